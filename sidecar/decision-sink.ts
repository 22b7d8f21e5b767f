// What happens to every decision once the request is answered: counted (metrics), logged (one
// line with decisionLogFields), counted again by block type when a block refused it, and
// buffered for the control plane's event stream. One function, shared by the HTTP/1.1 and
// HTTP/2 forwarders and by the micro benchmark that measures its cost per request.
import type { Logger } from '../lib/logger.ts';
import type { DecisionRecord } from './app-forwarder.ts';
import type { BlockMetrics } from './block-metrics.ts';
import { decisionLogFields } from './metrics.ts';

export interface DecisionSinkParts {
  metrics: { record(record: DecisionRecord): void };
  blockMetrics: Pick<BlockMetrics, 'refused'>;
  log: Logger;
  /** The event reporter: buffers, never waits. */
  reporter: { record(record: DecisionRecord): void };
}

export function createDecisionSink(parts: DecisionSinkParts): (record: DecisionRecord) => void {
  const { metrics, blockMetrics, log, reporter } = parts;
  return (record) => {
    metrics.record(record);
    if (record.block) blockMetrics.refused(record.block.type);
    log.info(decisionLogFields(record), 'decision');
    reporter.record(record);
  };
}
