// Compiles a checked spec into matchers. Each part can say why it did not match, for near misses.
import { claimAt, claimValues, claimWords, scopesOf } from './claims.ts';
import { parseDuration } from './duration.ts';
import type { Claims } from './model.ts';
import { commonPrefix, compilePathMatcher, literalPrefix, type PathMatcher } from './paths.ts';
import { compileStringMatcher, type StringMatcher } from './strings.ts';
import type { AuthPolicySpec, Condition, Operation, Permission, Source } from './types.generated.ts';

/** One request as the matchers see it; roles are read once per roles claim and cached. */
export interface EvalContext {
  readonly method: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly peer: string | undefined;
  readonly namespace: string | undefined;
  readonly claims: Claims | undefined;
  readonly roles: Map<string, ReadonlySet<string>>;
}

type Test = (ctx: EvalContext) => boolean;

export interface CompiledRule {
  /** The rule's name, or rules[i] when it has none. */
  readonly name: string;
  /**
   * When every source of the rule names exact principals or namespaces: those, as peer keys. The
   * rule can match only such a peer, so the engine looks at it only for those peers.
   */
  readonly peerKeys?: ReadonlySet<string>;
  /**
   * Set when `from` says no more than peerKeys (every source is exact principals only or exact
   * namespaces only): a rule found through a peer key then matches its source without a test.
   */
  readonly fromIsPeerKeys?: true;
  /**
   * When every operation of `to` names paths: the text that all of them start with, so that a
   * request for another path is passed over without running `to`.
   */
  readonly pathPrefix?: string;
  readonly from?: Test;
  readonly to?: Test;
  readonly when: readonly { readonly test: Test; readonly text: string }[];
  readonly mfa?: { readonly amr: readonly string[]; readonly acr: readonly string[] };
  readonly rateLimit?: {
    readonly requests: number;
    readonly periodMs: number;
    readonly key: (ctx: EvalContext) => string;
  };
}

// Single tests are returned as they are: most lists hold one item, and each layer costs.
const anyOf = (tests: Test[]): Test =>
  tests.length === 1
    ? tests[0]!
    : (ctx) => {
        for (let i = 0; i < tests.length; i++) if (tests[i]!(ctx)) return true;
        return false;
      };
const allOf = (tests: Test[]): Test =>
  tests.length === 1
    ? tests[0]!
    : (ctx) => {
        for (let i = 0; i < tests.length; i++) if (!tests[i]!(ctx)) return false;
        return true;
      };

const exact = (patterns: readonly string[] | undefined): patterns is readonly string[] =>
  patterns !== undefined && patterns.every((p) => !p.startsWith('*') && !p.endsWith('*'));

/**
 * The peer keys ("principal:<id>", "namespace:<ns>") of which a request's peer must have one for
 * the rule to match, or undefined when some source also matches other peers (wildcards,
 * negations only, plaintext).
 */
function peerKeys(sources: readonly Source[] | undefined): ReadonlySet<string> | undefined {
  if (!sources) return undefined;
  const keys = new Set<string>();
  for (const { principals, namespaces } of sources) {
    if (exact(principals)) principals.forEach((p) => keys.add(`principal:${p}`));
    else if (exact(namespaces)) namespaces.forEach((n) => keys.add(`namespace:${n}`));
    else return undefined;
  }
  return keys;
}

/** Whether the sources test nothing but membership of the peer keys that peerKeys() made of them. */
function sourcesArePeerKeys(sources: readonly Source[]): boolean {
  return sources.every(
    ({ principals, notPrincipals, namespaces, notNamespaces }) =>
      notPrincipals === undefined &&
      notNamespaces === undefined &&
      (principals === undefined) !== (namespaces === undefined),
  );
}

/** An operation's checks; absent ones pass. One shape for all, so one matcher function serves all. */
interface OperationChecks {
  readonly methods: ReadonlySet<string> | undefined;
  readonly notMethods: ReadonlySet<string> | undefined;
  readonly ports: ReadonlySet<number> | undefined;
  readonly notPorts: ReadonlySet<number> | undefined;
  readonly hosts: StringMatcher | undefined;
  readonly notHosts: StringMatcher | undefined;
  readonly paths: PathMatcher | undefined;
  readonly notPaths: PathMatcher | undefined;
}

function operationMatches(checks: OperationChecks, ctx: EvalContext): boolean {
  const { methods, notMethods, ports, notPorts, hosts, notHosts, paths, notPaths } = checks;
  if (methods !== undefined && !methods.has(ctx.method)) return false;
  if (notMethods !== undefined && notMethods.has(ctx.method)) return false;
  if (ports !== undefined && !ports.has(ctx.port)) return false;
  if (notPorts !== undefined && notPorts.has(ctx.port)) return false;
  if (hosts !== undefined && !hosts.test(ctx.host)) return false;
  if (notHosts !== undefined && notHosts.test(ctx.host)) return false;
  if (paths !== undefined && !paths.test(ctx.path)) return false;
  if (notPaths !== undefined && notPaths.test(ctx.path)) return false;
  return true;
}

function compileOperation(op: Omit<Operation, 'permission' | 'rolePermissions'> | Permission): Test {
  const checks: OperationChecks = {
    methods: op.methods && new Set(op.methods),
    notMethods: op.notMethods && new Set(op.notMethods),
    ports: op.ports && new Set(op.ports),
    notPorts: op.notPorts && new Set(op.notPorts),
    hosts: op.hosts && compileStringMatcher(op.hosts, true),
    notHosts: op.notHosts && compileStringMatcher(op.notHosts, true),
    paths: op.paths && compilePathMatcher(op.paths),
    notPaths: op.notPaths && compilePathMatcher(op.notPaths),
  };
  return (ctx) => operationMatches(checks, ctx);
}

function compileSource(source: Source): Test {
  const checks: Test[] = [];
  const add = (
    patterns: readonly string[] | undefined,
    read: (ctx: EvalContext) => string | undefined,
    negate: boolean,
  ) => {
    if (!patterns) return;
    const matcher = compileStringMatcher(patterns);
    // No identity (plaintext) matches no pattern: principals fail, notPrincipals pass.
    checks.push((ctx) => {
      const value = read(ctx);
      return (value !== undefined && matcher.test(value)) !== negate;
    });
  };
  add(source.principals, (ctx) => ctx.peer, false);
  add(source.notPrincipals, (ctx) => ctx.peer, true);
  add(source.namespaces, (ctx) => ctx.namespace, false);
  add(source.notNamespaces, (ctx) => ctx.namespace, true);
  return allOf(checks);
}

/** The roles claim at a path; `key` is the path joined with NUL, made once at compile time. */
function rolesOf(ctx: EvalContext, claimPath: readonly string[], key: string): ReadonlySet<string> {
  let roles = ctx.roles.get(key);
  if (!roles) ctx.roles.set(key, (roles = new Set(claimWords(claimAt(ctx.claims, claimPath)))));
  return roles;
}

function compileCondition(condition: Condition, rolesClaim: readonly string[]): { test: Test; text: string } {
  const { role, group, scope, claim } = condition;
  const rolesKey = rolesClaim.join('\0');
  if (role !== undefined)
    return { test: (ctx) => rolesOf(ctx, rolesClaim, rolesKey).has(role), text: `role "${role}"` };
  if (group !== undefined) {
    return {
      test: (ctx) => claimWords(claimAt(ctx.claims, ['groups'])).includes(group),
      text: `group "${group}"`,
    };
  }
  if (scope !== undefined)
    return { test: (ctx) => scopesOf(ctx.claims).includes(scope), text: `scope "${scope}"` };
  const path = claim ?? [];
  const { values, notValues, present } = condition;
  const text = `claim ${path.join('.')}`;
  return {
    text,
    test(ctx) {
      if (ctx.claims === undefined) return false;
      const value = claimAt(ctx.claims, path);
      if (present !== undefined && (value !== undefined) !== present) return false;
      const items = claimValues(value);
      if (values && !items.some((item) => values.includes(item))) return false;
      return !notValues || !items.some((item) => notValues.includes(item));
    },
  };
}

/** The bucket of a request: the rule's prefix (made once) and the source, user or claim value. */
function rateLimitKey(
  prefix: string,
  limit: NonNullable<NonNullable<AuthPolicySpec['rules']>[number]['rateLimit']>,
): (ctx: EvalContext) => string {
  if (limit.by === 'source') return (ctx) => prefix + (ctx.peer || '-');
  const path = limit.by === 'user' ? ['sub'] : (limit.claim ?? []);
  return (ctx) => {
    const value = claimAt(ctx.claims, path);
    // A string claim is its own text; anything else as claimValues joins it.
    const text = typeof value === 'string' ? value : claimValues(value).join(',');
    return prefix + (text || '-');
  };
}

/**
 * The text every matching path starts with, when each operation of the rule names paths (an
 * empty string, which tells nothing, when they share no prefix); undefined otherwise.
 */
function requiredPathPrefix(
  to: readonly Operation[] | undefined,
  permissionPaths: ReadonlyMap<string, readonly string[] | undefined>,
): string | undefined {
  if (!to) return undefined;
  const prefixes: string[] = [];
  for (const op of to) {
    if (op.rolePermissions) return undefined;
    const paths = op.permission !== undefined ? permissionPaths.get(op.permission) : op.paths;
    if (!paths || paths.length === 0) return undefined;
    prefixes.push(...paths.map(literalPrefix));
  }
  return commonPrefix(prefixes);
}

/** Compiles every rule of a checked, defaulted spec. */
export function compileRules(spec: AuthPolicySpec, policyKey: string): CompiledRule[] {
  const permissions = new Map((spec.permissions ?? []).map((p) => [p.name, compileOperation(p)]));
  const permissionPaths = new Map((spec.permissions ?? []).map((p) => [p.name, p.paths]));
  const rolesClaim = spec.rolesClaim ?? ['roles'];
  const rolesKey = rolesClaim.join('\0');
  const grants = new Map(
    (spec.roles ?? []).map((role) => [role.name, role.permissions.map((name) => permissions.get(name)!)]),
  );
  const byRoles: Test = (ctx) =>
    [...rolesOf(ctx, rolesClaim, rolesKey)].some(
      (role) => grants.get(role)?.some((test) => test(ctx)) ?? false,
    );

  return (spec.rules ?? []).map((rule, i) => {
    const name = rule.name ?? `rules[${i}]`;
    const to = rule.to?.map((op) =>
      op.permission !== undefined
        ? permissions.get(op.permission)!
        : op.rolePermissions
          ? byRoles
          : compileOperation(op),
    );
    const limit = rule.rateLimit;
    const keys = peerKeys(rule.from);
    const pathPrefix = requiredPathPrefix(rule.to, permissionPaths);
    return {
      name,
      ...(pathPrefix && { pathPrefix }),
      ...(keys && { peerKeys: keys }),
      ...(keys && sourcesArePeerKeys(rule.from!) && { fromIsPeerKeys: true as const }),
      ...(rule.from && { from: anyOf(rule.from.map(compileSource)) }),
      ...(to && { to: anyOf(to) }),
      when: (rule.when ?? []).map((condition) => compileCondition(condition, rolesClaim)),
      ...(rule.requireMfa && {
        mfa: {
          acr: rule.requireMfa.acr ?? [],
          amr: rule.requireMfa.amr ?? (rule.requireMfa.acr ? [] : ['mfa']),
        },
      }),
      ...(limit && {
        rateLimit: {
          requests: limit.requests,
          periodMs: parseDuration(limit.per)!,
          key: rateLimitKey(`${policyKey}/${name}/${limit.by}=`, limit),
        },
      }),
    };
  });
}

/** Whether the token shows the multi-factor authentication that a rule requires. */
export function mfaSatisfied(mfa: NonNullable<CompiledRule['mfa']>, claims: Claims | undefined): boolean {
  if (!claims) return false;
  const amr = claimValues(claimAt(claims, ['amr']));
  const acr = claimValues(claimAt(claims, ['acr']));
  return mfa.amr.some((value) => amr.includes(value)) || mfa.acr.some((value) => acr.includes(value));
}
