// Prometheus metrics of the event pipeline. Label values that come from events (policy, source)
// are capped: after `maxValues` distinct values per label, new ones count as "_other", so a
// flood of made-up policy names or principals cannot grow the registry without bound.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DetectionKind } from './detectors.ts';
import type { MonitorEvent } from './event.ts';

/** Admits the first `max` distinct values of a label; any later one reads as "_other". */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  value(raw: string | undefined): string {
    if (raw === undefined || raw === '') return '_none';
    if (this.seen.has(raw)) return raw;
    if (this.seen.size >= this.max) return '_other';
    this.seen.add(raw);
    return raw;
  }
}

export interface MonitorMetricsOptions {
  /** Distinct policy and source label values kept. Default 200 each. */
  maxLabelValues?: number;
  /** Read when scraped. */
  queued?: () => number;
  streams?: () => number;
}

export function createMonitorMetrics(registry: Registry, options: MonitorMetricsOptions = {}) {
  const policies = new BoundedLabel(options.maxLabelValues ?? 200);
  const sources = new BoundedLabel(options.maxLabelValues ?? 200);
  const events = new Counter({
    name: 'lanyard_monitor_events_total',
    help: 'Decision events accepted from sidecars, by deciding policy, decision and source (the calling principal; "_none" for plaintext, "_other" past the label cap).',
    labelNames: ['policy', 'decision', 'source'] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'lanyard_monitor_events_rejected_total',
    help: 'Malformed decision events dropped, by the field that failed validation ("batch" for an oversized batch).',
    labelNames: ['field'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'lanyard_monitor_events_dropped_total',
    help: 'Valid decision events dropped under load: by the sidecar before sending ("sidecar"), or by a full per-stream or global queue.',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const detections = new Counter({
    name: 'lanyard_monitor_detections_total',
    help: 'Detections by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'lanyard_monitor_queued_events',
    help: 'Events waiting to be processed across all streams.',
    registers: [registry],
    collect() {
      this.set(options.queued?.() ?? 0);
    },
  });
  new Gauge({
    name: 'lanyard_monitor_streams',
    help: 'Connected event streams.',
    registers: [registry],
    collect() {
      this.set(options.streams?.() ?? 0);
    },
  });
  for (const field of ['batch']) rejected.inc({ field }, 0);
  for (const queue of ['sidecar', 'stream', 'global']) dropped.inc({ queue }, 0);

  return {
    event(event: MonitorEvent): void {
      events.inc({
        policy: policies.value(event.policy),
        decision: event.decision,
        source: sources.value(event.peer),
      });
    },
    rejected(byField: ReadonlyMap<string, number>): void {
      for (const [field, count] of byField) rejected.inc({ field }, count);
    },
    dropped(queue: 'sidecar' | 'stream' | 'global', count: number): void {
      if (count > 0) dropped.inc({ queue }, count);
    },
    detection(kind: DetectionKind): void {
      detections.inc({ kind });
    },
  };
}

export type MonitorMetrics = ReturnType<typeof createMonitorMetrics>;
