// What the CRD's schema and CEL rules cannot check: references between fields, path templates,
// inline JWKS, duplicate names (errors), and rules that can never match, repeat, or switch off
// another rule's MFA requirement (warnings).
import type { Diagnostic } from './model.ts';
import { findMfaBypasses } from './mfa-bypass.ts';
import { checkPathPattern } from './paths.ts';
import type { AuthPolicySpec, Operation, Permission, Rule } from './types.generated.ts';

type OperationFields = Pick<
  Operation,
  'methods' | 'notMethods' | 'hosts' | 'notHosts' | 'ports' | 'notPorts' | 'paths' | 'notPaths'
>;

class Findings {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  error(code: Diagnostic['code'], path: string, message: string): void {
    this.errors.push({ code, path, message: `${path}: ${message}` });
  }
  warn(code: Diagnostic['code'], path: string, message: string): void {
    this.warnings.push({ code, path, message: `${path}: ${message}` });
  }
}

function overlap<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): T[] {
  return (a ?? []).filter((value) => (b ?? []).includes(value));
}

function checkOperation(op: OperationFields, path: string, found: Findings): void {
  for (const field of ['paths', 'notPaths'] as const) {
    for (const [i, pattern] of (op[field] ?? []).entries()) {
      const problem = checkPathPattern(pattern);
      if (problem)
        found.error(
          'ERR_POLICY_TEMPLATE',
          `${path}.${field}[${i}]`,
          `bad path pattern "${pattern}": ${problem}`,
        );
    }
  }
  const pairs = [
    ['methods', overlap(op.methods, op.notMethods)],
    ['hosts', overlap(op.hosts, op.notHosts)],
    ['ports', overlap(op.ports, op.notPorts)],
    ['paths', overlap(op.paths, op.notPaths)],
  ] as const;
  for (const [field, both] of pairs) {
    if (both.length > 0) {
      found.warn(
        'WARN_POLICY_UNREACHABLE',
        path,
        `${both.map((v) => JSON.stringify(v)).join(', ')} is in both ${field} and not${field[0]!.toUpperCase()}${field.slice(1)}, so it never matches`,
      );
    }
  }
}

function duplicates(
  names: readonly (string | undefined)[],
  path: (i: number) => string,
  what: string,
  found: Findings,
): void {
  const first = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    if (name === undefined) continue;
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, i);
    else
      found.error(
        'ERR_POLICY_DUPLICATE',
        path(i),
        `duplicate ${what} name "${name}" (also at index ${earlier})`,
      );
  }
}

function checkJwks(text: string, path: string, found: Findings): void {
  let keys: unknown;
  try {
    keys = (JSON.parse(text) as { keys?: unknown }).keys;
  } catch {
    found.error('ERR_POLICY_JWKS', path, 'is not JSON');
    return;
  }
  if (!Array.isArray(keys) || keys.length === 0) {
    found.error('ERR_POLICY_JWKS', path, 'must be a JWKS document with a non-empty "keys" array');
  } else if (keys.some((key) => typeof key !== 'object' || key === null || 'd' in key || 'k' in key)) {
    found.error('ERR_POLICY_JWKS', path, 'may hold public keys only (a key has "d" or "k")');
  }
}

function checkRule(rule: Rule, path: string, spec: AuthPolicySpec, found: Findings): void {
  const permissions = new Set((spec.permissions ?? []).map((p) => p.name));
  const roles = (spec.roles ?? []).map((r) => r.name);
  for (const [i, to] of (rule.to ?? []).entries()) {
    const at = `${path}.to[${i}]`;
    if (to.permission !== undefined && !permissions.has(to.permission)) {
      found.error('ERR_POLICY_REFERENCE', `${at}.permission`, `unknown permission "${to.permission}"`);
    }
    if (to.rolePermissions && roles.length === 0) {
      found.error('ERR_POLICY_REFERENCE', `${at}.rolePermissions`, 'no roles are defined in spec.roles');
    }
    checkOperation(to, at, found);
  }
  for (const [i, when] of (rule.when ?? []).entries()) {
    if (when.role !== undefined && roles.length > 0 && !roles.includes(when.role)) {
      found.error(
        'ERR_POLICY_REFERENCE',
        `${path}.when[${i}].role`,
        `unknown role "${when.role}" (spec.roles defines ${roles.map((r) => `"${r}"`).join(', ')})`,
      );
    }
    const both = overlap(when.values, when.notValues);
    if (both.length > 0) {
      found.warn(
        'WARN_POLICY_UNREACHABLE',
        `${path}.when[${i}]`,
        `${both.map((v) => JSON.stringify(v)).join(', ')} is in both values and notValues, so it never matches`,
      );
    }
  }
  for (const [i, from] of (rule.from ?? []).entries()) {
    const both = [
      ...overlap(from.principals, from.notPrincipals),
      ...overlap(from.namespaces, from.notNamespaces),
    ];
    if (both.length > 0) {
      found.warn(
        'WARN_POLICY_UNREACHABLE',
        `${path}.from[${i}]`,
        `${both.map((v) => JSON.stringify(v)).join(', ')} is both required and excluded, so it never matches`,
      );
    }
  }
}

function checkUnused(spec: AuthPolicySpec, found: Findings): void {
  const rules = spec.rules ?? [];
  const usedByRules = new Set(rules.flatMap((r) => (r.to ?? []).map((t) => t.permission)));
  const usesRolePermissions = rules.some((r) => (r.to ?? []).some((t) => t.rolePermissions));
  const usedByRoles = new Set((spec.roles ?? []).flatMap((r) => r.permissions));
  const roleConditions = new Set(rules.flatMap((r) => (r.when ?? []).map((w) => w.role)));
  for (const [i, permission] of (spec.permissions ?? []).entries()) {
    if (!usedByRules.has(permission.name) && !(usesRolePermissions && usedByRoles.has(permission.name))) {
      found.warn(
        'WARN_POLICY_UNUSED',
        `spec.permissions[${i}]`,
        `permission "${permission.name}" is not used by any rule or role`,
      );
    }
  }
  for (const [i, role] of (spec.roles ?? []).entries()) {
    if (!usesRolePermissions && !roleConditions.has(role.name)) {
      found.warn(
        'WARN_POLICY_UNUSED',
        `spec.roles[${i}]`,
        `role "${role.name}" is not used: no rule has to[].rolePermissions or when[].role "${role.name}"`,
      );
    }
  }
}

/** The errors and warnings of a spec that has passed the schema check. */
export function checkSemantics(spec: AuthPolicySpec): { errors: Diagnostic[]; warnings: Diagnostic[] } {
  const found = new Findings();
  const permissions: readonly Permission[] = spec.permissions ?? [];
  const rules = spec.rules ?? [];
  duplicates(
    permissions.map((p) => p.name),
    (i) => `spec.permissions[${i}].name`,
    'permission',
    found,
  );
  duplicates(
    (spec.roles ?? []).map((r) => r.name),
    (i) => `spec.roles[${i}].name`,
    'role',
    found,
  );
  duplicates(
    rules.map((r) => r.name),
    (i) => `spec.rules[${i}].name`,
    'rule',
    found,
  );
  for (const [i, permission] of permissions.entries())
    checkOperation(permission, `spec.permissions[${i}]`, found);
  const names = new Set(permissions.map((p) => p.name));
  for (const [i, role] of (spec.roles ?? []).entries()) {
    for (const [j, name] of role.permissions.entries()) {
      if (!names.has(name))
        found.error(
          'ERR_POLICY_REFERENCE',
          `spec.roles[${i}].permissions[${j}]`,
          `unknown permission "${name}"`,
        );
    }
  }
  for (const [i, token] of (spec.userTokens ?? []).entries()) {
    if (token.jwks !== undefined) checkJwks(token.jwks, `spec.userTokens[${i}].jwks`, found);
  }
  const seen = new Map<string, number>();
  for (const [i, rule] of rules.entries()) {
    checkRule(rule, `spec.rules[${i}]`, spec, found);
    const body = JSON.stringify({ ...rule, name: undefined });
    const earlier = seen.get(body);
    if (earlier !== undefined) {
      found.warn(
        'WARN_POLICY_DUPLICATE_RULE',
        `spec.rules[${i}]`,
        `repeats spec.rules[${earlier}] and never decides anything`,
      );
    } else seen.set(body, i);
  }
  checkUnused(spec, found);
  for (const { guarded, bypass } of findMfaBypasses(spec)) {
    const name = (i: number) => (rules[i]!.name ? `rule "${rules[i]!.name}"` : `spec.rules[${i}]`);
    found.warn(
      'WARN_POLICY_MFA_BYPASS',
      `spec.rules[${bypass}]`,
      `${name(bypass)} may allow without MFA requests that ${name(guarded)} allows only with MFA ` +
        '(any matching ALLOW rule allows); add requireMfa to it or narrow its operations',
    );
  }
  return found;
}
