import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DecisionRecord } from './app-forwarder.ts';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What the sidecar's gauges read when Prometheus scrapes. */
export interface SidecarMetricSources {
  /** The current X.509-SVID (expiry in ms since the epoch); undefined before the first one. */
  svid: () => { spiffeId: string; expiresAt: number } | undefined;
  /** Open outbound connections (mesh and out-of-mesh, in use or idle). */
  outboundConnections: () => number;
  now?: () => number;
}

export interface OutboundOutcome {
  /** 'mesh' for a destination sidecar, 'out_of_mesh' for a route with a service JWT. */
  kind: 'mesh' | 'out_of_mesh';
  status: number;
  /** Whether the request went over a kept-alive connection; undefined when none was made. */
  reusedConnection?: boolean;
  durationMs?: number;
}

/** The sidecar's metrics, on the registry its process gives. */
export function createSidecarMetrics(registry: Registry, sources?: SidecarMetricSources) {
  const now = sources?.now ?? Date.now;
  const decisions = new Counter({
    name: 'lanyard_sidecar_decisions_total',
    help: 'Inbound requests by decision, the reason, and the policy and rule that decided.',
    labelNames: ['decision', 'reason', 'policy', 'rule', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'lanyard_sidecar_decision_seconds',
    help: 'Inbound: time from request to answer headers, including the app.',
    labelNames: ['decision'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const outbound = new Counter({
    name: 'lanyard_sidecar_outbound_requests_total',
    help: 'Outbound requests by kind (mesh, out_of_mesh), status class and whether the connection was reused.',
    labelNames: ['kind', 'status_class', 'connection'] as const,
    registers: [registry],
  });
  const outboundLatency = new Histogram({
    name: 'lanyard_sidecar_outbound_request_seconds',
    help: 'Outbound: time from request to the end of the answer, by kind.',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const jwksFetches = new Counter({
    name: 'lanyard_sidecar_jwks_fetches_total',
    help: 'JWKS fetches of end-user token issuers, by issuer and outcome (ok, error).',
    labelNames: ['issuer', 'outcome'] as const,
    registers: [registry],
  });
  const serviceTokens = new Counter({
    name: 'lanyard_sidecar_service_token_mints_total',
    help: 'JWT-SVIDs minted for out-of-mesh destinations, by outcome (ok, error).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  if (sources) {
    new Gauge({
      name: 'lanyard_sidecar_svid_expiry_seconds',
      help: 'Seconds until the current X.509-SVID expires (negative once expired); absent before the first.',
      labelNames: ['spiffe_id'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const svid = sources.svid();
        if (svid) this.set({ spiffe_id: svid.spiffeId }, (svid.expiresAt - now()) / 1000);
      },
    });
    new Gauge({
      name: 'lanyard_sidecar_outbound_connections',
      help: 'Open outbound connections (mesh and out-of-mesh, in use or idle).',
      registers: [registry],
      collect() {
        this.set(sources.outboundConnections());
      },
    });
  }

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
    outbound(outcome: OutboundOutcome): void {
      const connection =
        outcome.reusedConnection === undefined ? 'none' : outcome.reusedConnection ? 'reused' : 'new';
      outbound.inc({
        kind: outcome.kind,
        status_class: `${Math.floor(outcome.status / 100)}xx`,
        connection,
      });
      if (outcome.durationMs !== undefined) {
        outboundLatency.observe({ kind: outcome.kind }, outcome.durationMs / 1000);
      }
    },
    jwksFetch(issuer: string, outcome: 'ok' | 'error'): void {
      jwksFetches.inc({ issuer, outcome });
    },
    serviceTokenMint(outcome: 'ok' | 'error'): void {
      serviceTokens.inc({ outcome });
    },
  };
}
