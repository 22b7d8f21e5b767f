// Builders shared by the policy unit tests.
import { normalizePath } from '../../lib/path.ts';
import { compilePolicies } from '../../lib/policy/compile-all.ts';
import type { Claims, CompileOptions, RequestContext, WorkloadRef } from '../../lib/policy/model.ts';
import type { WorkloadPolicy } from '../../lib/policy/policy-index.ts';
import type { AuthPolicySpec } from '../../lib/policy/types.generated.ts';

export const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

export function policy(name: string, spec: AuthPolicySpec, namespace = 'shop') {
  return { apiVersion: 'lanyard.dev/v1alpha1', kind: 'AuthPolicy', metadata: { name, namespace }, spec };
}

export const orders: WorkloadRef = { namespace: 'shop', labels: { app: 'orders' } };

/** Compiles policies, fails on any rejected one, and returns the workload's view. */
export function viewOf(
  policies: readonly unknown[],
  workload: WorkloadRef = orders,
  options: CompileOptions = {},
): WorkloadPolicy {
  const { index, results } = compilePolicies(policies, options);
  const rejected = results.filter((result) => !result.accepted);
  if (rejected.length > 0)
    throw new Error(rejected.flatMap((r) => r.errors.map((e) => e.message)).join('\n'));
  return index.forWorkload(workload);
}

export function request(
  method: string,
  path: string,
  options: { peer?: string; claims?: Claims; host?: string; port?: number } = { peer: WEB },
): RequestContext {
  return {
    method,
    path: normalizePath(path),
    host: options.host ?? 'orders.shop',
    port: options.port ?? 8080,
    ...('peer' in options ? { peer: options.peer } : {}),
    ...(options.claims && { claims: options.claims }),
  };
}
