// What the controller knows of the cluster, compiled: the policy set and, per policy, how many
// running pods it selects. Pure: the informers feed it objects, it computes.
import type { V1Pod } from '@kubernetes/client-node';
import {
  LastGoodPolicies,
  type CompileOptions,
  type PolicySet,
  type PolicyResult,
} from '../lib/policy/index.ts';

export interface PolicyObjectLike {
  metadata?: { name?: string; namespace?: string; generation?: number };
  spec?: unknown;
}

export interface ClusterView {
  readonly policySet: PolicySet;
  /** Compile results of the stored versions, by "namespace/name". */
  readonly results: ReadonlyMap<string, PolicyResult>;
  /** Policies whose stored version is refused while their last accepted version stays in force. */
  readonly retained: ReadonlySet<string>;
  /** Selected running pods by policy "namespace/name". */
  readonly selectedWorkloads: ReadonlyMap<string, number>;
  /** metadata.generation by policy "namespace/name". */
  readonly generations: ReadonlyMap<string, number>;
}

/** A pod that is, or will be, running: the ones a policy is enforced on. */
export function isLivePod(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

export function buildClusterView(
  policies: readonly PolicyObjectLike[],
  pods: readonly V1Pod[],
  options: CompileOptions,
  lastGood: LastGoodPolicies = new LastGoodPolicies(),
): ClusterView {
  const compiled = lastGood.compile(policies, options);
  const policySet = compiled.set;
  const results = new Map(compiled.results.map((r) => [`${r.ref.namespace}/${r.ref.name}`, r]));
  const selectedWorkloads = new Map<string, number>();
  for (const result of policySet.results) {
    if (result.accepted) selectedWorkloads.set(`${result.ref.namespace}/${result.ref.name}`, 0);
  }
  for (const pod of pods) {
    if (!isLivePod(pod) || !pod.metadata?.namespace) continue;
    const workload = { namespace: pod.metadata.namespace, labels: pod.metadata.labels ?? {} };
    for (const policy of policySet.index.policiesFor(workload)) {
      selectedWorkloads.set(policy.key, (selectedWorkloads.get(policy.key) ?? 0) + 1);
    }
  }
  const generations = new Map<string, number>();
  for (const policy of policies) {
    const { namespace, name, generation } = policy.metadata ?? {};
    if (namespace && name) generations.set(`${namespace}/${name}`, generation ?? 0);
  }
  return { policySet, results, retained: compiled.retained, selectedWorkloads, generations };
}
