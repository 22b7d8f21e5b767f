import { Counter, Histogram, type Registry } from 'prom-client';
import type { DecisionRecord } from './app-forwarder.ts';

/** The sidecar's decision metrics, on the registry its process gives. */
export function createSidecarMetrics(registry: Registry) {
  const decisions = new Counter({
    name: 'lanyard_sidecar_decisions_total',
    help: 'Inbound requests by decision, the reason, and the policy and rule that decided.',
    labelNames: ['decision', 'reason', 'policy', 'rule', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'lanyard_sidecar_decision_seconds',
    help: 'Time from request to answer headers, including the app.',
    labelNames: ['decision'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return {
    record(record: DecisionRecord): void {
      decisions.inc({
        decision: record.decision,
        reason: record.reason,
        policy: record.policy ?? '',
        rule: record.rule ?? '',
        status: String(record.status),
      });
      latency.observe({ decision: record.decision }, record.latencyMs / 1000);
    },
  };
}
