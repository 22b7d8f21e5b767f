// The public surface of the policy core: compile AuthPolicies, index them per workload, and
// evaluate requests. Pure: no Kubernetes, gRPC, sockets or files (see ./folder.ts for files).
export { compilePolicies, type PolicySet } from './compile-all.ts';
export { compilePolicy, type CompiledPolicy, type PolicyResult } from './compile.ts';
export { evaluate } from './engine.ts';
export { POLICY_ERRORS, POLICY_WARNINGS, type PolicyErrorCode, type PolicyWarningCode } from './errors.ts';
export { loadPolicyDocuments, type LoadedPolicies, type LoadOptions, type PolicyFile } from './loader.ts';
export { PolicyIndex, type WorkloadPolicy } from './policy-index.ts';
export { LastGoodPolicies, type RetainedCompile } from './last-good.ts';
export type * from './model.ts';
export type * from './types.generated.ts';
