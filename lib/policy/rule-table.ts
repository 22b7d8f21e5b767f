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

const NONE: readonly RuleEntry[] = Object.freeze([]);
/** Merged candidate lists kept per peer; cleared when full (peers are verified identities). */
const MAX_MERGED = 1024;

function addTo(index: Map<string, RuleEntry[]>, key: string, entry: RuleEntry): void {
  const list = index.get(key);
  if (list) list.push(entry);
  else index.set(key, [entry]);
}

export class RuleTable {
  readonly #open: RuleEntry[] = [];
  readonly #byPrincipal = new Map<string, RuleEntry[]>();
  readonly #byNamespace = new Map<string, RuleEntry[]>();
  readonly #merged = new Map<string, readonly RuleEntry[]>();
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
        if (key.startsWith('principal:')) addTo(this.#byPrincipal, key.slice('principal:'.length), entry);
        else addTo(this.#byNamespace, key.slice('namespace:'.length), entry);
      }
    }
  }

  /** The rules that may match a request from this peer, in evaluation order. */
  candidates(peer: string | undefined, namespace: string | undefined): readonly RuleEntry[] {
    const open = this.#open;
    const byPeer = (peer !== undefined && this.#byPrincipal.get(peer)) || NONE;
    const byNamespace = (namespace !== undefined && this.#byNamespace.get(namespace)) || NONE;
    const lists = (open.length > 0 ? 1 : 0) + (byPeer.length > 0 ? 1 : 0) + (byNamespace.length > 0 ? 1 : 0);
    if (lists === 0) return NONE;
    if (lists === 1) return open.length > 0 ? open : byPeer.length > 0 ? byPeer : byNamespace;
    // A rule may sit under a principal and a namespace key: keep it once, in order. The merge is
    // the same for every request of this peer, so it is made once.
    const key = `${peer ?? ''}\0${namespace ?? ''}`;
    let merged = this.#merged.get(key);
    if (!merged) {
      merged = [...new Set([...open, ...byPeer, ...byNamespace])].sort((a, b) => a.order - b.order);
      if (this.#merged.size >= MAX_MERGED) this.#merged.clear();
      this.#merged.set(key, merged);
    }
    return merged;
  }
}

/**
 * Where in a candidate list the rules are whose paths lie under a directory: a rule whose
 * operations all name paths can match only a path under the directory (up to the last "/")
 * of the prefix those paths share. Rules without one are looked at for every path.
 */
interface PathIndex {
  readonly everywhere: readonly number[];
  readonly byDirectory: ReadonlyMap<string, readonly number[]>;
}

/** Shorter candidate lists are simply walked: the index would cost more than it saves. */
const INDEXED_FROM = 16;
const pathIndexes = new WeakMap<readonly RuleEntry[], PathIndex>();

function pathIndexOf(list: readonly RuleEntry[]): PathIndex {
  let index = pathIndexes.get(list);
  if (index) return index;
  const everywhere: number[] = [];
  const byDirectory = new Map<string, number[]>();
  list.forEach(({ rule }, position) => {
    const prefix = rule.pathPrefix ?? '';
    const directory = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    if (directory.length <= 1) everywhere.push(position);
    else {
      const positions = byDirectory.get(directory);
      if (positions) positions.push(position);
      else byDirectory.set(directory, [position]);
    }
  });
  index = { everywhere, byDirectory };
  pathIndexes.set(list, index);
  return index;
}

/**
 * The positions in `list`, ascending, of the rules that may match `path`; undefined for all of
 * them. Every rule left out has a path prefix that the path does not start with.
 */
export function positionsFor(list: readonly RuleEntry[], path: string): readonly number[] | undefined {
  if (list.length < INDEXED_FROM) return undefined;
  const { everywhere, byDirectory } = pathIndexOf(list);
  let found: readonly number[] | undefined;
  let merged: number[] | undefined;
  for (let slash = path.indexOf('/', 1); slash >= 0; slash = path.indexOf('/', slash + 1)) {
    const positions = byDirectory.get(path.slice(0, slash + 1));
    if (!positions) continue;
    if (found === undefined) found = positions;
    else (merged ??= [...found]).push(...positions);
  }
  if (found === undefined) return everywhere;
  if (everywhere.length > 0) (merged ??= [...found]).push(...everywhere);
  return merged ? merged.sort((a, b) => a - b) : found;
}
