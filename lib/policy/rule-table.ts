// The rules of one workload's policies in evaluation order, indexed by the exact principals and
// namespaces they require, so that a request looks only at the rules that could match its peer:
// with rules per caller, as is common, the cost stays flat however many rules the workload has.
import type { CompiledPolicy } from './compile.ts';
import type { CompiledRule } from './rules.ts';

export interface RuleEntry {
  readonly policy: CompiledPolicy;
  readonly rule: CompiledRule;
  /** Position in evaluation order. */
  readonly order: number;
}

export class RuleTable {
  readonly #open: RuleEntry[] = [];
  readonly #byPeerKey = new Map<string, RuleEntry[]>();
  /** Every rule, in order: for near misses, which look at all of them. */
  readonly all: readonly RuleEntry[];

  constructor(policies: readonly CompiledPolicy[]) {
    this.all = policies
      .flatMap((policy) => policy.rules.map((rule) => ({ policy, rule })))
      .map((entry, order) => ({ ...entry, order }));
    for (const entry of this.all) {
      if (!entry.rule.peerKeys) {
        this.#open.push(entry);
        continue;
      }
      for (const key of entry.rule.peerKeys) {
        const list = this.#byPeerKey.get(key) ?? [];
        list.push(entry);
        this.#byPeerKey.set(key, list);
      }
    }
  }

  /** The rules that may match a request from this peer, in evaluation order. */
  candidates(peer: string | undefined, namespace: string | undefined): readonly RuleEntry[] {
    const lists = [this.#open];
    if (peer !== undefined) lists.push(this.#byPeerKey.get(`principal:${peer}`) ?? []);
    if (namespace !== undefined) lists.push(this.#byPeerKey.get(`namespace:${namespace}`) ?? []);
    const nonEmpty = lists.filter((list) => list.length > 0);
    if (nonEmpty.length <= 1) return nonEmpty[0] ?? [];
    // A rule may sit under a principal and a namespace key: keep it once, in order.
    return [...new Set(nonEmpty.flat())].sort((a, b) => a.order - b.order);
  }
}
