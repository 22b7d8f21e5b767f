// The dashboard's read model of monitoring: calls between services counted by caller and
// reporting workload, the latest denials and the latest anomalies. Pure and bounded: the edge
// table has a cap (what does not fit is counted in one "other" edge) and the lists are rings.
// Strings come from events the monitor validated (bounded, no control characters) but are
// still hostile text: whatever shows them must escape them.
import type { MonitorEvent } from '../monitor/event.ts';
import type { Detection } from '../monitor/detectors.ts';
import type { Block } from '../monitor/blocks.ts';

/** The caller of a call that carried no client certificate (PERMISSIVE mTLS). */
export const NO_PEER = '(no client certificate)';
/** Both ends of the edge that counts calls beyond the edge cap. */
export const OTHER = '(other)';

export interface Edge {
  /** The caller's SPIFFE ID as the sidecar verified it, or NO_PEER / OTHER. */
  from: string;
  /** The SPIFFE ID of the reporting sidecar (from its SVID), or OTHER. */
  to: string;
  allow: number;
  deny: number;
  lastMs: number;
}

export interface Denial {
  timeMs: number;
  reporter: string;
  peer?: string;
  user?: string;
  method: string;
  path: string;
  reason: string;
  policy?: string;
  rule?: string;
  status: number;
  source?: string;
}

export interface Anomaly {
  detection: Detection;
  /** The one-line description shared with logs and Events. */
  message: string;
  block?: Pick<Block, 'id' | 'expiresMs'>;
}

export interface DashboardModelOptions {
  /** Distinct caller → workload edges kept. Default 500. */
  maxEdges?: number;
  /** Denials kept, newest replacing oldest. Default 200. */
  maxDenials?: number;
  /** Anomalies kept. Default 100. */
  maxAnomalies?: number;
}

export interface ModelSnapshot {
  edges: Edge[];
  /** Newest first. */
  denials: Denial[];
  /** Newest first. */
  anomalies: Anomaly[];
  totals: { allow: number; deny: number };
}

/** A fixed-size ring: keeps the last `capacity` items pushed. */
export class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new TypeError('ring capacity must be >= 1');
  }

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  newestFirst(): T[] {
    const ordered = [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
    return ordered.reverse();
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < 1 || chosen > 1_000_000) {
    throw new TypeError(`${name} must be an integer from 1 to 1000000`);
  }
  return chosen;
}

export class DashboardModel {
  private readonly edges = new Map<string, Edge>();
  private readonly denials: Ring<Denial>;
  private readonly anomalies: Ring<Anomaly>;
  private readonly maxEdges: number;
  private readonly totals = { allow: 0, deny: 0 };

  constructor(options: DashboardModelOptions = {}) {
    this.maxEdges = positive('maxEdges', options.maxEdges, 500);
    this.denials = new Ring(positive('maxDenials', options.maxDenials, 200));
    this.anomalies = new Ring(positive('maxAnomalies', options.maxAnomalies, 100));
  }

  recordEvent(event: MonitorEvent): void {
    const from = event.peer ?? NO_PEER;
    let edge = this.edges.get(`${from}\u0000${event.reporter}`);
    if (!edge) {
      // One slot stays for the "other" edge, so the table never holds more than maxEdges.
      const key = this.edges.size < this.maxEdges - 1 ? `${from}\u0000${event.reporter}` : OTHER;
      edge = this.edges.get(key);
      if (!edge) {
        edge =
          key === OTHER
            ? { from: OTHER, to: OTHER, allow: 0, deny: 0, lastMs: 0 }
            : { from, to: event.reporter, allow: 0, deny: 0, lastMs: 0 };
        this.edges.set(key, edge);
      }
    }
    edge.lastMs = Math.max(edge.lastMs, event.timeMs);
    if (event.decision === 'ALLOW') {
      edge.allow += 1;
      this.totals.allow += 1;
      return;
    }
    edge.deny += 1;
    this.totals.deny += 1;
    const denial: Denial = {
      timeMs: event.timeMs,
      reporter: event.reporter,
      method: event.method,
      path: event.path,
      reason: event.reason,
      status: event.status,
    };
    for (const key of ['peer', 'user', 'policy', 'rule', 'source'] as const) {
      if (event[key] !== undefined) denial[key] = event[key];
    }
    this.denials.push(denial);
  }

  recordDetection(detection: Detection, message: string, block?: Block): void {
    this.anomalies.push({
      detection,
      message,
      ...(block && { block: { id: block.id, expiresMs: block.expiresMs } }),
    });
  }

  snapshot(): ModelSnapshot {
    return {
      edges: [...this.edges.values()].map((edge) => ({ ...edge })),
      denials: this.denials.newestFirst(),
      anomalies: this.anomalies.newestFirst(),
      totals: { ...this.totals },
    };
  }
}
