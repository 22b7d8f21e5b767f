import { LanyardError, type CoreErrorCode } from './errors.ts';

/** A parsed, validated SPIFFE ID. `toString()` gives its one canonical form. */
export interface SpiffeId {
  readonly trustDomain: string;
  /** The path, with a leading slash, or '' for the trust domain itself. */
  readonly path: string;
  readonly segments: readonly string[];
  toString(): string;
}

/** The Kubernetes workload identity encoded in a Lanyard SPIFFE ID. */
export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SCHEME = 'spiffe://';
const MAX_ID_LENGTH = 2048;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[a-zA-Z0-9._-]+$/;
// A DNS-1123 label: what Kubernetes allows for namespace names.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// A DNS-1123 subdomain: what Kubernetes allows for ServiceAccount names.
const SERVICE_ACCOUNT = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function invalid(message: string, value: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_SPIFFE_ID_INVALID', message, { value: value.slice(0, 256) });
}

/** Validates a trust domain name (SPIFFE spec: lowercase letters, digits, '.', '-', '_'). */
export function parseTrustDomain(value: string): string {
  if (value.length === 0) invalid('trust domain is empty', value);
  if (value.length > 255) invalid('trust domain is longer than 255 characters', value);
  if (!TRUST_DOMAIN.test(value)) {
    invalid('trust domain may hold only lowercase letters, digits, ".", "-" and "_"', value);
  }
  return value;
}

function makeId(trustDomain: string, segments: string[]): SpiffeId {
  const path = segments.map((segment) => `/${segment}`).join('');
  const text = `${SCHEME}${trustDomain}${path}`;
  return Object.freeze({ trustDomain, path, segments: Object.freeze(segments), toString: () => text });
}

/**
 * Parses a SPIFFE ID strictly, per the SPIFFE specification: lowercase scheme and trust domain;
 * no userinfo, port, query or fragment; no empty, "." or ".." segment; no percent-encoding;
 * no trailing slash. Anything else is rejected rather than normalized, so that two different
 * strings can never name the same identity.
 */
export function parseSpiffeId(value: string): SpiffeId {
  if (typeof value !== 'string') throw new TypeError('a SPIFFE ID must be a string');
  if (value.length > MAX_ID_LENGTH) invalid(`SPIFFE ID is longer than ${MAX_ID_LENGTH} characters`, value);
  if (!value.startsWith(SCHEME)) invalid('SPIFFE ID must start with "spiffe://"', value);
  const rest = value.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (/[@:]/.test(trustDomain)) invalid('SPIFFE ID may not carry userinfo or a port', value);
  parseTrustDomain(trustDomain);
  if (slash === -1) return makeId(trustDomain, []);
  const segments = rest.slice(slash + 1).split('/');
  for (const segment of segments) {
    if (segment === '') invalid('SPIFFE ID path has an empty segment or a trailing slash', value);
    if (segment === '.' || segment === '..')
      invalid('SPIFFE ID path may not hold "." or ".." segments', value);
    if (!PATH_SEGMENT.test(segment)) {
      invalid('SPIFFE ID path may hold only letters, digits, ".", "-" and "_" (no %, ?, #)', value);
    }
  }
  return makeId(trustDomain, segments);
}

/** Builds the SPIFFE ID of a Kubernetes workload: spiffe://<td>/ns/<namespace>/sa/<serviceAccount>. */
export function workloadSpiffeId(identity: WorkloadIdentity): SpiffeId {
  parseTrustDomain(identity.trustDomain);
  if (!NAMESPACE.test(identity.namespace))
    invalid('not a valid Kubernetes namespace name', identity.namespace);
  if (!SERVICE_ACCOUNT.test(identity.serviceAccount)) {
    invalid('not a valid Kubernetes ServiceAccount name', identity.serviceAccount);
  }
  return makeId(identity.trustDomain, ['ns', identity.namespace, 'sa', identity.serviceAccount]);
}

/** Reads the namespace and ServiceAccount out of a workload SPIFFE ID; undefined for other shapes. */
export function workloadIdentityOf(id: SpiffeId): WorkloadIdentity | undefined {
  const [ns, namespace, sa, serviceAccount, ...extra] = id.segments;
  if (ns !== 'ns' || sa !== 'sa' || extra.length > 0 || !namespace || !serviceAccount) return undefined;
  if (!NAMESPACE.test(namespace) || !SERVICE_ACCOUNT.test(serviceAccount)) return undefined;
  return { trustDomain: id.trustDomain, namespace, serviceAccount };
}
