// The index of what selects what: policies grouped by namespace, so that finding a workload's
// policies costs the size of its namespace and the root namespace, never the whole cluster.
import type { CompiledPolicy } from './compile.ts';
import type { PolicyRef, WorkloadRef } from './model.ts';
import { RuleTable } from './rule-table.ts';
import type { ResolvedOptions } from './options.ts';
import { selectorMatches } from './selector.ts';
import type { TokenLocation, UserTokenIssuer } from './types.generated.ts';

const DEFAULT_TOKEN_LOCATION: readonly TokenLocation[] = Object.freeze([
  { header: 'authorization', prefix: 'Bearer ' },
]);

/** The compiled policies that select one workload, split the way the engine walks them. */
export interface WorkloadPolicy {
  readonly workload: WorkloadRef;
  readonly mtls: 'STRICT' | 'PERMISSIVE';
  /** Enforced policies, by action; dry-run policies are kept apart. */
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly audit: readonly CompiledPolicy[];
  readonly dryRun: readonly CompiledPolicy[];
  /** The same rules, indexed for evaluation. */
  readonly tables: {
    readonly deny: RuleTable;
    readonly allow: RuleTable;
    readonly audit: RuleTable;
    readonly dryRun: RuleTable;
    /** What enforcement would be with the dry-run policies on. */
    readonly shadowDeny: RuleTable;
    readonly shadowAllow: RuleTable;
  };
  /**
   * The token issuers the sidecar accepts for this workload, from its enforced policies, one per
   * issuer (the workload's own namespace wins over the root namespace), with `from` defaulted.
   */
  readonly userTokens: readonly UserTokenIssuer[];
  readonly options: ResolvedOptions;
}

function issuersOf(policies: readonly CompiledPolicy[]): UserTokenIssuer[] {
  const byIssuer = new Map<string, UserTokenIssuer>();
  for (const token of policies.flatMap((policy) => policy.spec.userTokens ?? [])) {
    if (!byIssuer.has(token.issuer))
      byIssuer.set(token.issuer, { ...token, from: token.from ?? DEFAULT_TOKEN_LOCATION });
  }
  return [...byIssuer.values()];
}

export class PolicyIndex {
  readonly #byNamespace = new Map<string, CompiledPolicy[]>();
  readonly #options: ResolvedOptions;

  constructor(policies: readonly CompiledPolicy[], options: ResolvedOptions) {
    this.#options = options;
    for (const policy of policies) {
      const list = this.#byNamespace.get(policy.ref.namespace) ?? [];
      list.push(policy);
      this.#byNamespace.set(policy.ref.namespace, list);
    }
    for (const list of this.#byNamespace.values()) list.sort((a, b) => a.ref.name.localeCompare(b.ref.name));
  }

  /** Whether a policy applies to a workload: same namespace and selector, or mesh-wide. */
  selects(policy: CompiledPolicy, workload: WorkloadRef): boolean {
    const { namespace } = policy.ref;
    if (namespace !== workload.namespace && namespace !== this.#options.rootNamespace) return false;
    return selectorMatches(policy.spec.selector, workload.labels);
  }

  /** The accepted policies that select the workload: its namespace's first, then mesh-wide ones. */
  policiesFor(workload: WorkloadRef): CompiledPolicy[] {
    const own = this.#byNamespace.get(workload.namespace) ?? [];
    const meshWide =
      workload.namespace === this.#options.rootNamespace
        ? []
        : (this.#byNamespace.get(this.#options.rootNamespace) ?? []);
    return [...own, ...meshWide].filter((policy) => this.selects(policy, workload));
  }

  /** Every accepted policy with this reference, if any. */
  get(ref: PolicyRef): CompiledPolicy | undefined {
    return this.#byNamespace.get(ref.namespace)?.find((policy) => policy.ref.name === ref.name);
  }

  /** What the engine evaluates for one workload. Build it once per workload and policy change. */
  forWorkload(workload: WorkloadRef): WorkloadPolicy {
    const policies = this.policiesFor(workload);
    const enforced = policies.filter((p) => !p.dryRun);
    const modes = enforced.map((p) => p.spec.mtls).filter((mode) => mode !== undefined);
    const deny = enforced.filter((p) => p.action === 'DENY');
    const allow = enforced.filter((p) => p.action === 'ALLOW');
    const audit = enforced.filter((p) => p.action === 'AUDIT');
    const dryRun = policies.filter((p) => p.dryRun);
    return Object.freeze({
      workload,
      mtls:
        modes.length === 0 ? this.#options.defaultMtls : modes.includes('STRICT') ? 'STRICT' : 'PERMISSIVE',
      deny,
      allow,
      audit,
      dryRun,
      tables: {
        deny: new RuleTable(deny),
        allow: new RuleTable(allow),
        audit: new RuleTable(audit),
        dryRun: new RuleTable(dryRun),
        shadowDeny: new RuleTable([...deny, ...dryRun.filter((p) => p.action === 'DENY')]),
        shadowAllow: new RuleTable([...allow, ...dryRun.filter((p) => p.action === 'ALLOW')]),
      },
      userTokens: issuersOf(enforced),
      options: this.#options,
    });
  }
}
