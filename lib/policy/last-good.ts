// Keeps the last accepted version of each policy in force while a newer version is refused.
// Without this, a half-edited file or a typo in `kubectl apply` would remove the policy, and a
// workload it protected could fall back to an allowing mesh default: fail open. A policy that is
// deleted is gone; a policy that never compiled is never in force.
import { compilePolicies, type PolicySet } from './compile-all.ts';
import type { CompileOptions, PolicyRef } from './model.ts';
import { compilePolicy, type PolicyResult } from './compile.ts';

export interface RetainedCompile {
  /** What is enforced: the accepted policies, with last good versions standing in for refused ones. */
  readonly set: PolicySet;
  /** The results of the inputs as given (a refused new version shows as refused here). */
  readonly results: readonly PolicyResult[];
  /** Policies whose newer version was refused and whose previous version stays in force. */
  readonly retained: ReadonlySet<string>;
}

const keyOf = (ref: PolicyRef) => `${ref.namespace}/${ref.name}`;

export class LastGoodPolicies {
  readonly #good = new Map<string, unknown>();
  // Informers hand out the same object until it changes: its compile result can be reused, so a
  // change to one policy of ten thousand compiles one policy, not ten thousand.
  readonly #compiled = new WeakMap<object, PolicyResult>();

  readonly #compileOne = (input: unknown): PolicyResult => {
    if (typeof input !== 'object' || input === null) return compilePolicy(input);
    let result = this.#compiled.get(input);
    if (!result) {
      result = compilePolicy(input);
      this.#compiled.set(input, result);
    }
    return result;
  };

  compile(inputs: readonly unknown[], options: CompileOptions = {}): RetainedCompile {
    const given = compilePolicies(inputs, options, this.#compileOne);
    const present = new Set<string>();
    const retained = new Set<string>();
    const effective = inputs.map((input, i) => {
      const result = given.results[i]!;
      const key = keyOf(result.ref);
      present.add(key);
      if (result.accepted) {
        this.#good.set(key, input);
        return input;
      }
      const previous = this.#good.get(key);
      if (previous === undefined) return input;
      retained.add(key);
      return previous;
    });
    for (const key of [...this.#good.keys()]) if (!present.has(key)) this.#good.delete(key);
    const set = retained.size === 0 ? given : compilePolicies(effective, options, this.#compileOne);
    return { set, results: given.results, retained };
  }
}
