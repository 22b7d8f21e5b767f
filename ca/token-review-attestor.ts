import { createHash } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import type { WorkloadIdentity } from '../lib/spiffe.ts';
import { apiStatus } from '../kube/api-errors.ts';
import type { PodLookup } from '../kube/pods.ts';
import type { TokenReviewer, TokenReviewResult } from '../kube/token-review.ts';
import { checkIdentityPolicy, type Attestor, type IdentityPolicy } from './attestor.ts';
import { caError } from './errors.ts';
import { TtlCache } from './ttl-cache.ts';

export const CA_AUDIENCE = 'lanyard-ca';
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';

export interface TokenReviewAttestorOptions {
  readonly trustDomain: string;
  readonly reviewer: TokenReviewer;
  readonly pods: PodLookup;
  readonly clock: Clock;
  readonly policy?: IdentityPolicy;
  readonly audience?: string;
  /** How long a successful attestation is reused for the same token; default 10 s, 0 disables. */
  readonly cacheTtlMs?: number;
  readonly cacheMaxEntries?: number;
}

function unauthenticated(reason: string): never {
  throw caError('ERR_CA_UNAUTHENTICATED', 'the ServiceAccount token was not accepted', { reason });
}

/** A log-safe cause: an HTTP status or an errno code, never a message that may echo a request. */
function causeOf(error: unknown): string {
  const status = apiStatus(error);
  if (status !== undefined) return `HTTP ${status}`;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown';
}

function unavailable(what: string, error: unknown): never {
  // Fail closed: without an answer from the API server nobody gets an identity.
  throw caError('ERR_CA_UNAVAILABLE', 'the CA cannot verify credentials right now', {
    what,
    cause: causeOf(error),
  });
}

/** The token's own exp, read only after TokenReview accepted it, to bound the cache entry. */
function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Attests a projected ServiceAccount token: TokenReview with the CA's audience, then the pod
 * binding (the Pod the token names exists, with the token's UID and ServiceAccount), then the
 * identity policy.
 */
export class TokenReviewAttestor implements Attestor {
  private readonly cache: TtlCache<WorkloadIdentity>;
  private readonly audience: string;
  private readonly cacheTtlMs: number;

  constructor(private readonly options: TokenReviewAttestorOptions) {
    this.audience = options.audience ?? CA_AUDIENCE;
    this.cacheTtlMs = options.cacheTtlMs ?? 10_000;
    this.cache = new TtlCache(options.cacheMaxEntries ?? 10_000, () => options.clock.now());
  }

  async attest(token: string): Promise<WorkloadIdentity> {
    if (token.length === 0 || token.length > 16_384) unauthenticated('token missing or too long');
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(key);
    if (cached) return cached;

    let review: TokenReviewResult;
    try {
      review = await this.options.reviewer.review(token, [this.audience]);
    } catch (error) {
      unavailable('TokenReview', error);
    }
    if (!review.authenticated) unauthenticated(review.error ?? 'not authenticated');
    if (!review.audiences.includes(this.audience)) unauthenticated('audience');
    const match = SERVICE_ACCOUNT_USER.exec(review.username ?? '');
    if (!match) unauthenticated('not a ServiceAccount');
    const [, namespace, serviceAccount] = match as unknown as [string, string, string];
    const podName = review.extra[POD_NAME]?.[0];
    const podUid = review.extra[POD_UID]?.[0];
    if (!podName || !podUid) unauthenticated('token is not bound to a Pod');

    let pod;
    try {
      pod = await this.options.pods.get(namespace, podName);
    } catch (error) {
      unavailable('Pod lookup', error);
    }
    if (!pod) unauthenticated('bound Pod no longer exists');
    if (pod.uid !== podUid) unauthenticated('bound Pod was replaced (UID differs)');
    if (pod.serviceAccountName !== serviceAccount)
      unauthenticated('bound Pod runs as another ServiceAccount');

    const identity = { trustDomain: this.options.trustDomain, namespace, serviceAccount };
    checkIdentityPolicy(this.options.policy ?? {}, identity);
    if (this.cacheTtlMs > 0) {
      const now = this.options.clock.now();
      this.cache.set(key, identity, Math.min(now + this.cacheTtlMs, tokenExpiry(token) ?? Infinity));
    }
    return identity;
  }
}
