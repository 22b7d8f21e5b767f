// Who enforces what, counted as it changes: for each policy, how many connected sidecars were
// sent it (the policies a snapshot holds are exactly those that select the sidecar's workload)
// and, of those, which generation each acknowledged. A snapshot sent or ACKed updates only that
// sidecar's policies, so a status resync reads each policy's counts without visiting sidecars.
// Pure: the policy stream feeds it.
import type { Delivery } from './status.ts';

/** The policies of one snapshot: "namespace/name" and the generation it carries. */
export type SnapshotPolicies = ReadonlyMap<string, number>;

/** What one sidecar adds to the counts: the policies it was sent, with any ACKed generation. */
type Contribution = ReadonlyMap<string, number | undefined>;

interface PolicyCounts {
  connected: number;
  /** Sidecars (among the connected) by the generation of this policy they ACKed. */
  acked: Map<number, number>;
}

export class DeliveryLedger<Sidecar extends object> {
  private readonly counts = new Map<string, PolicyCounts>();
  private readonly contributions = new Map<Sidecar, Contribution>();

  /** Records what a sidecar was last sent and last ACKed; replaces what it had recorded. */
  update(sidecar: Sidecar, sent: SnapshotPolicies | undefined, acked: SnapshotPolicies | undefined): void {
    this.remove(sidecar);
    if (!sent) return;
    const contribution = new Map<string, number | undefined>();
    for (const key of sent.keys()) {
      const generation = acked?.get(key);
      contribution.set(key, generation);
      let counts = this.counts.get(key);
      if (!counts) {
        counts = { connected: 0, acked: new Map() };
        this.counts.set(key, counts);
      }
      counts.connected += 1;
      if (generation !== undefined) counts.acked.set(generation, (counts.acked.get(generation) ?? 0) + 1);
    }
    this.contributions.set(sidecar, contribution);
  }

  /** Forgets a sidecar that left. */
  remove(sidecar: Sidecar): void {
    const contribution = this.contributions.get(sidecar);
    if (!contribution) return;
    this.contributions.delete(sidecar);
    for (const [key, generation] of contribution) {
      const counts = this.counts.get(key)!;
      counts.connected -= 1;
      if (generation !== undefined) {
        const left = counts.acked.get(generation)! - 1;
        if (left === 0) counts.acked.delete(generation);
        else counts.acked.set(generation, left);
      }
      if (counts.connected === 0) this.counts.delete(key);
    }
  }

  /** Connected sidecars sent the policy, and how many of them ACKed `generation` or newer. */
  delivery(policyKey: string, generation: number): Delivery {
    const counts = this.counts.get(policyKey);
    if (!counts) return { connected: 0, acknowledged: 0 };
    let acknowledged = 0;
    // One entry per generation still held by some sidecar: a handful at most.
    for (const [acked, sidecars] of counts.acked) if (acked >= generation) acknowledged += sidecars;
    return { connected: counts.connected, acknowledged };
  }
}
