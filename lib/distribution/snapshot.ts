// The policy snapshot the control plane streams to one workload's sidecar: the AuthPolicies
// that select it (metadata and spec, exactly as accepted) and the mesh's compile options. The
// sidecar compiles them with the same pure compiler, so both ends agree by construction.
// Pure: used by the controller (to build) and the sidecar (to compile), with no I/O.
import { createHash } from 'node:crypto';
import {
  compilePolicies,
  type CompileOptions,
  type CompiledPolicy,
  type PolicyIndex,
  type WorkloadPolicy,
  type WorkloadRef,
} from '../policy/index.ts';

export interface SnapshotPolicy {
  metadata: { namespace: string; name: string; generation: number };
  spec: CompiledPolicy['spec'];
}

export interface PolicySnapshot {
  /** A digest of the content: equal snapshots have equal versions. */
  version: string;
  options: Required<CompileOptions>;
  policies: SnapshotPolicy[];
}

/** Keys sorted recursively, so that the version does not depend on property order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export function snapshotVersion(
  options: Required<CompileOptions>,
  policies: readonly SnapshotPolicy[],
): string {
  const digest = createHash('sha256').update(JSON.stringify(canonical({ options, policies })));
  return digest.digest('base64url').slice(0, 22);
}

/** The snapshot for one workload: only the policies that select it, never another namespace's. */
export function buildSnapshot(
  index: PolicyIndex,
  options: Required<CompileOptions>,
  workload: WorkloadRef,
  generations: (policy: CompiledPolicy) => number,
): PolicySnapshot {
  const policies = index.policiesFor(workload).map((policy) => ({
    metadata: { namespace: policy.ref.namespace, name: policy.ref.name, generation: generations(policy) },
    spec: policy.spec,
  }));
  return { version: snapshotVersion(options, policies), options, policies };
}

export type SnapshotCompileResult = { ok: true; policy: WorkloadPolicy } | { ok: false; error: string };

/** Compiles a received snapshot for its workload; any policy that fails makes the whole NACKed. */
export function compileSnapshot(snapshot: PolicySnapshot, workload: WorkloadRef): SnapshotCompileResult {
  let set;
  try {
    set = compilePolicies(
      snapshot.policies.map((p) => ({ apiVersion: 'lanyard.dev/v1alpha1', kind: 'AuthPolicy', ...p })),
      snapshot.options,
    );
  } catch (error) {
    return {
      ok: false,
      error: `snapshot options invalid: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const refused = set.results.filter((result) => !result.accepted);
  if (refused.length > 0) {
    const first = refused[0]!;
    return {
      ok: false,
      error: `policy ${first.ref.namespace}/${first.ref.name} does not compile: ${first.errors[0]?.message ?? 'unknown error'}`,
    };
  }
  const foreign = snapshot.policies.find(
    (p) =>
      p.metadata.namespace !== workload.namespace && p.metadata.namespace !== snapshot.options.rootNamespace,
  );
  if (foreign) {
    return {
      ok: false,
      error: `snapshot holds policy ${foreign.metadata.namespace}/${foreign.metadata.name} of another namespace`,
    };
  }
  return { ok: true, policy: set.index.forWorkload(workload) };
}
