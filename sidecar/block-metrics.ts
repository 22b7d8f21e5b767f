// The sidecar's block metrics: blocks in force, requests they refused, the snapshots received,
// and how current the snapshot in force is.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SnapshotOutcome } from './block-client.ts';
import type { BlockKind } from './block-set.ts';

export interface BlockMetricSources {
  active: () => number;
  /** When the snapshot in force arrived (ms since the epoch); undefined before the first. */
  receivedMs: () => number | undefined;
  connected: () => boolean;
  now?: () => number;
}

export interface BlockMetrics {
  refused(type: BlockKind): void;
  snapshot(outcome: SnapshotOutcome): void;
}

export function createBlockMetrics(registry: Registry, sources: BlockMetricSources): BlockMetrics {
  const now = sources.now ?? Date.now;
  new Gauge({
    name: 'lanyard_sidecar_blocks_active',
    help: 'Blocks (principal, user, token) in force now, from the last accepted snapshot.',
    registers: [registry],
    collect() {
      this.set(sources.active());
    },
  });
  new Gauge({
    name: 'lanyard_sidecar_block_snapshot_age_seconds',
    help: 'Seconds since the block snapshot in force arrived; absent before the first. The control plane sends only on change.',
    registers: [registry],
    collect() {
      this.reset();
      const received = sources.receivedMs();
      if (received !== undefined) this.set((now() - received) / 1000);
    },
  });
  new Gauge({
    name: 'lanyard_sidecar_block_stream_up',
    help: '1 while the block stream is connected and has delivered a snapshot, else 0 (the last snapshot stays in force).',
    registers: [registry],
    collect() {
      this.set(sources.connected() ? 1 : 0);
    },
  });
  const refused = new Counter({
    name: 'lanyard_sidecar_blocked_requests_total',
    help: 'Inbound requests refused by a block, by block type.',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const snapshots = new Counter({
    name: 'lanyard_sidecar_block_snapshots_total',
    help: 'Block snapshots received, by outcome (accepted, refused) and the fault of a refused one.',
    labelNames: ['outcome', 'fault'] as const,
    registers: [registry],
  });
  return {
    refused: (type) => refused.inc({ type }),
    snapshot: (outcome) =>
      snapshots.inc(
        outcome.accepted ? { outcome: 'accepted', fault: '' } : { outcome: 'refused', fault: outcome.fault },
      ),
  };
}
