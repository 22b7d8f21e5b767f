// TypeScript twins of the CRD's CEL rules, keyed by the rule's message, so that policies read
// from files (local mode) are refused with the same messages as by the API server. A unit
// test fails when the CRD has a rule without a twin here.
import { parseDuration } from './duration.ts';

type Obj = Record<string, unknown>;

const has = (value: unknown, key: string): boolean =>
  typeof value === 'object' &&
  value !== null &&
  (value as Obj)[key] !== undefined &&
  (value as Obj)[key] !== null;

const isHttpsUrl = (value: unknown): boolean => {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const url = new URL(value);
  return url.protocol === 'https:' && url.hostname !== '';
};

const count = (flags: boolean[]): number => flags.filter(Boolean).length;

const OPERATION_FIELDS = [
  'methods',
  'hosts',
  'ports',
  'paths',
  'notMethods',
  'notHosts',
  'notPorts',
  'notPaths',
];

export const CEL_MIRRORS: Readonly<Record<string, (self: unknown) => boolean>> = Object.freeze({
  'requireMfa and rateLimit are allowed only in rules of an ALLOW policy': (self) => {
    const spec = self as Obj;
    if (!has(spec, 'action') || spec.action === 'ALLOW' || !Array.isArray(spec.rules)) return true;
    return (spec.rules as unknown[]).every((rule) => !has(rule, 'requireMfa') && !has(rule, 'rateLimit'));
  },
  'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist': (self) => {
    const { operator, values } = self as Obj;
    const size = Array.isArray(values) ? values.length : 0;
    return operator === 'In' || operator === 'NotIn' ? size > 0 : size === 0;
  },
  'issuer must be an https URL': isHttpsUrl,
  'jwksUri must be an https URL': isHttpsUrl,
  'exactly one of jwksUri or jwks must be set': (self) => has(self, 'jwksUri') !== has(self, 'jwks'),
  'exactly one of header or cookie must be set': (self) => has(self, 'header') !== has(self, 'cookie'),
  'prefix is allowed only with header': (self) => !has(self, 'prefix') || has(self, 'header'),
  'a permission needs at least one of methods, hosts, ports, paths or their negations': (self) =>
    OPERATION_FIELDS.some((field) => has(self, field)),
  'a rule needs at least one of from, to or when': (self) =>
    has(self, 'from') || has(self, 'to') || has(self, 'when'),
  'rateLimit.claim must be set exactly when rateLimit.by is claim': (self) => {
    if (!has(self, 'rateLimit')) return true;
    const limit = (self as Obj).rateLimit as Obj;
    return (limit.by === 'claim') === has(limit, 'claim');
  },
  'a source needs at least one of principals, notPrincipals, namespaces or notNamespaces': (self) =>
    ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].some((field) => has(self, field)),
  'set exactly one of permission, rolePermissions, or inline operation fields': (self) =>
    count([
      has(self, 'permission'),
      has(self, 'rolePermissions'),
      OPERATION_FIELDS.some((field) => has(self, field)),
    ]) === 1,
  'rolePermissions may only be true; leave it out instead': (self) =>
    !has(self, 'rolePermissions') || (self as Obj).rolePermissions === true,
  'set exactly one of role, group, scope or claim': (self) =>
    count(['role', 'group', 'scope', 'claim'].map((field) => has(self, field))) === 1,
  'values, notValues and present go with claim, and claim needs one of them': (self) =>
    has(self, 'claim') === (has(self, 'values') || has(self, 'notValues') || has(self, 'present')),
  'per must be a duration from 1s to 24h': (self) => {
    const ms = typeof self === 'string' ? parseDuration(self) : undefined;
    return ms !== undefined && ms >= 1000 && ms <= 86_400_000;
  },
});
