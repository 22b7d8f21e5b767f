// What happens to every decision once the request is answered: counted (metrics), logged (one
// line with decisionLogJson), counted again by block type when a block refused it, and
// buffered for the control plane's event stream. One function, shared by the HTTP/1.1 and
// HTTP/2 forwarders and by the micro benchmark that measures its cost per request.
import type { InfoJsonWriter } from '../lib/logger.ts';
import type { DecisionRecord } from './app-forwarder.ts';
import type { BlockMetrics } from './block-metrics.ts';
import { decisionLogJson } from './decision-log.ts';

export interface DecisionSinkParts {
  metrics: { record(record: DecisionRecord): void };
  blockMetrics: Pick<BlockMetrics, 'refused'>;
  /** Writes the decision line (lib/logger.ts infoJsonVia, or the process's buffered log). */
  infoJson: InfoJsonWriter;
  /** The event reporter: buffers, never waits. */
  reporter: { record(record: DecisionRecord): void };
}

export function createDecisionSink(parts: DecisionSinkParts): (record: DecisionRecord) => void {
  const { metrics, blockMetrics, infoJson, reporter } = parts;
  return (record) => {
    metrics.record(record);
    if (record.block) blockMetrics.refused(record.block.type);
    infoJson(decisionLogJson(record), 'decision');
    reporter.record(record);
  };
}
