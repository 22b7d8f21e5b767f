// Finds ALLOW rules that can allow, without MFA, requests that another rule of the same policy
// allows only with MFA. The engine allows a request if any matching ALLOW rule is satisfied, so
// such a rule quietly switches the MFA requirement off for the requests both rules match.
// Operations are compared conservatively: "may overlap" unless methods, hosts, ports or paths
// are provably disjoint. Sources and conditions are not compared: a narrower `from` or `when`
// on the rule without MFA makes the overlap smaller, not empty, for the callers it names.
import type { AuthPolicySpec, Operation, Rule } from './types.generated.ts';

type Fields = Pick<Operation, 'methods' | 'hosts' | 'ports' | 'paths'>;

/** Every operation a rule can match; undefined when it matches any operation (no `to`). */
function operationsOf(rule: Rule, spec: AuthPolicySpec): Fields[] | undefined {
  if (!rule.to || rule.to.length === 0) return undefined;
  const permissions = new Map((spec.permissions ?? []).map((p) => [p.name, p]));
  const granted = new Set((spec.roles ?? []).flatMap((role) => role.permissions));
  return rule.to.flatMap((to): Fields[] => {
    if (to.permission !== undefined) {
      const permission = permissions.get(to.permission);
      return permission ? [permission] : [];
    }
    if (to.rolePermissions) return [...granted].flatMap((name) => permissions.get(name) ?? []);
    return [to];
  });
}

function listsMayOverlap<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  if (!a || a.length === 0 || !b || b.length === 0) return true;
  return a.some((value) => b.includes(value));
}

const isPrefix = (pattern: string) => pattern.endsWith('*') && !pattern.endsWith('{**}');
const isAny = (segment: string) => segment.startsWith('{');

/** Whether two template or exact patterns (no trailing "*") can match one path, by segments. */
function segmentsMayOverlap(a: readonly string[], b: readonly string[]): boolean {
  const [x, ...restA] = a;
  const [y, ...restB] = b;
  if (x === undefined || y === undefined) return x === y;
  if (x === '{**}' || y === '{**}') return true;
  if (!isAny(x) && !isAny(y) && x !== y) return false;
  return segmentsMayOverlap(restA, restB);
}

/** Whether a template or exact pattern can match a path that starts with `prefix`. */
function prefixMayOverlap(prefix: string, pattern: readonly string[]): boolean {
  const segments = prefix.split('/');
  const partial = segments.pop()!;
  for (const [i, segment] of segments.entries()) {
    const other = pattern[i];
    if (other === undefined) return false;
    if (other === '{**}') return true;
    if (!isAny(other) && other !== segment) return false;
  }
  const other = pattern[segments.length];
  return other !== undefined && (isAny(other) || other.startsWith(partial));
}

function pathsMayOverlap(a: string, b: string): boolean {
  if (isPrefix(a) && isPrefix(b)) return a.startsWith(b.slice(0, -1)) || b.startsWith(a.slice(0, -1));
  if (isPrefix(a)) return prefixMayOverlap(a.slice(0, -1), b.split('/'));
  if (isPrefix(b)) return prefixMayOverlap(b.slice(0, -1), a.split('/'));
  return segmentsMayOverlap(a.split('/'), b.split('/'));
}

/**
 * Comparisons left for one policy. The schema allows 64 rules of 16 operations of many paths, so
 * the pairwise check is bounded; the warning is advice, and a policy too large to check fully
 * is checked as far as the budget goes.
 */
class Budget {
  constructor(private left: number) {}
  spend(): boolean {
    return this.left-- > 0;
  }
  get exhausted(): boolean {
    return this.left <= 0;
  }
}

const COMPARISONS_PER_POLICY = 20_000;

function operationsMayOverlap(a: Fields, b: Fields, budget: Budget): boolean {
  const paths =
    !a.paths || a.paths.length === 0 || !b.paths || b.paths.length === 0
      ? true
      : a.paths.some((p) => b.paths!.some((q) => budget.spend() && pathsMayOverlap(p, q)));
  return (
    paths &&
    listsMayOverlap(a.methods, b.methods) &&
    listsMayOverlap(a.hosts, b.hosts) &&
    listsMayOverlap(a.ports, b.ports)
  );
}

function rulesMayOverlap(a: Fields[] | undefined, b: Fields[] | undefined, budget: Budget): boolean {
  if (a === undefined || b === undefined) return true;
  return a.some((x) => b.some((y) => budget.spend() && operationsMayOverlap(x, y, budget)));
}

export interface MfaBypass {
  /** Index of the rule that requires MFA. */
  readonly guarded: number;
  /** Index of a rule without MFA whose operations may overlap it. */
  readonly bypass: number;
}

/** The pairs of rules of an ALLOW policy where the second may allow the first's requests without MFA. */
export function findMfaBypasses(spec: AuthPolicySpec): MfaBypass[] {
  if ((spec.action ?? 'ALLOW') !== 'ALLOW') return [];
  const rules = spec.rules ?? [];
  const operations = rules.map((rule) => operationsOf(rule, spec));
  const found: MfaBypass[] = [];
  const budget = new Budget(COMPARISONS_PER_POLICY);
  for (const [guarded, rule] of rules.entries()) {
    if (!rule.requireMfa) continue;
    for (const [bypass, other] of rules.entries()) {
      if (budget.exhausted) return found;
      if (other.requireMfa || !rulesMayOverlap(operations[guarded], operations[bypass], budget)) continue;
      found.push({ guarded, bypass });
    }
  }
  return found;
}
