import { compilePolicy, type PolicyResult } from './compile.ts';
import type { CompileOptions } from './model.ts';
import { resolveOptions } from './options.ts';
import { PolicyIndex } from './policy-index.ts';

export interface PolicySet {
  /** The index of every accepted policy. */
  readonly index: PolicyIndex;
  /** One result per input, in input order: accepted or not, with errors and warnings. */
  readonly results: readonly PolicyResult[];
}

/**
 * Checks and compiles every policy of the cluster (or of a folder) and indexes the accepted
 * ones. A rejected policy is left out and never stops the others. `compileOne` lets a caller
 * reuse the results of policies that did not change (see LastGoodPolicies).
 */
export function compilePolicies(
  inputs: readonly unknown[],
  options: CompileOptions = {},
  compileOne: (input: unknown) => PolicyResult = compilePolicy,
): PolicySet {
  const resolved = resolveOptions(options);
  const seen = new Set<string>();
  const results = inputs.map((input): PolicyResult => {
    const result = compileOne(input);
    const key = `${result.ref.namespace}/${result.ref.name}`;
    if (result.accepted && seen.has(key)) {
      const message = `metadata.name: duplicate policy "${key}": another policy has the same namespace and name`;
      return {
        ...result,
        accepted: false,
        policy: undefined,
        errors: [{ code: 'ERR_POLICY_DUPLICATE', path: 'metadata.name', message }],
      };
    }
    seen.add(key);
    return result;
  });
  const accepted = results.flatMap((result) => (result.policy ? [result.policy] : []));
  return { index: new PolicyIndex(accepted, resolved), results };
}
