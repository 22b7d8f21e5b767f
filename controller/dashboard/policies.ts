// AuthPolicies as the dashboard lists them: each with the status the controller computes
// (status.ts), from the compiled view and the policy stream's deliveries. In a cluster the
// ClusterView is that view; in local mode folderPolicyView builds it from the folder's compile
// and the registered workloads. Pure.
import type { RetainedCompile, WorkloadRef } from '../../lib/policy/index.ts';
import type { PolicyResult } from '../../lib/policy/index.ts';
import { desiredStatus, type Delivery } from '../status.ts';
import type { PolicyState } from './view.ts';

export interface PolicyView {
  results: ReadonlyMap<string, PolicyResult>;
  retained: ReadonlySet<string>;
  selectedWorkloads: ReadonlyMap<string, number>;
  generations: ReadonlyMap<string, number>;
}

export function folderPolicyView(
  compiled: RetainedCompile,
  generations: ReadonlyMap<string, number>,
  workloads: readonly WorkloadRef[],
): PolicyView {
  const selectedWorkloads = new Map<string, number>();
  for (const result of compiled.set.results) {
    if (result.accepted) selectedWorkloads.set(`${result.ref.namespace}/${result.ref.name}`, 0);
  }
  for (const workload of workloads) {
    for (const policy of compiled.set.index.policiesFor(workload)) {
      selectedWorkloads.set(policy.key, (selectedWorkloads.get(policy.key) ?? 0) + 1);
    }
  }
  return {
    results: new Map(compiled.results.map((r) => [`${r.ref.namespace}/${r.ref.name}`, r])),
    retained: compiled.retained,
    selectedWorkloads,
    generations,
  };
}

export function policyStates(
  view: PolicyView | undefined,
  delivery: (key: string, generation: number) => Delivery,
  now: number,
): PolicyState[] {
  if (!view) return [];
  const at = new Date(now).toISOString();
  return [...view.results].map(([key, result]) => {
    const generation = view.generations.get(key) ?? 0;
    return {
      key,
      status: desiredStatus({
        generation,
        result,
        selectedWorkloads: view.selectedWorkloads.get(key) ?? 0,
        delivery: delivery(key, generation),
        retained: view.retained.has(key),
        now: at,
      }),
    };
  });
}
