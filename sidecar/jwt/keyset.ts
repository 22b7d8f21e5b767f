import { importJWK, type CryptoKey } from 'jose';
import { algorithmsForKey, isSupportedAlgorithm, type JwsAlgorithm, type PublicJwk } from './algorithms.ts';

/** One verification key taken from a JWKS. */
export interface VerificationKey {
  readonly kid: string;
  readonly jwk: PublicJwk;
  /** What this key may verify: its type's algorithms, narrowed to its `alg` member if present. */
  readonly algorithms: readonly JwsAlgorithm[];
}

export type KeyLookup =
  | { readonly status: 'found'; readonly key: VerificationKey }
  | { readonly status: 'unknown-kid' }
  | { readonly status: 'alg-mismatch' };

export const MAX_KID_LENGTH = 256;
export const MAX_JWKS_KEYS = 100;
const MIN_RSA_BITS = 2048;
const KID = /^[\x21-\x7e]+$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A kid is printable ASCII without spaces and bounded in length: it is compared, never used as a path. */
export function isWellFormedKid(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_KID_LENGTH && KID.test(value);
}

function b64(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 4096 && BASE64URL.test(value);
}

function rsaModulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  const first = bytes.findIndex((byte) => byte !== 0);
  if (first === -1) return 0;
  return (bytes.length - first) * 8 - Math.clz32(bytes[first]!) + 24;
}

function publicJwkOf(entry: Record<string, unknown>): PublicJwk | undefined {
  const { kty, crv, n, e, x, y } = entry;
  if (kty === 'RSA' && b64(n) && b64(e) && rsaModulusBits(n) >= MIN_RSA_BITS) return { kty, n, e };
  if (kty === 'EC' && (crv === 'P-256' || crv === 'P-384') && b64(x) && b64(y)) return { kty, crv, x, y };
  if (kty === 'OKP' && crv === 'Ed25519' && b64(x)) return { kty, crv, x };
  return undefined;
}

/**
 * Reads the usable verification keys of a JWKS document. Entries that cannot serve here are
 * skipped, not fatal: symmetric (`oct`) keys, weak RSA keys, unknown types or curves,
 * encryption keys (`use` other than "sig", `key_ops` without "verify"), keys without a
 * well-formed `kid`, and keys whose `alg` is not an allowed one. Only the public members are
 * kept, so that private parts or certificates in the document are never used.
 * Returns undefined when the document is not a JWKS at all.
 */
export function parseJwks(document: unknown): { keys: VerificationKey[]; skipped: number } | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const entries = (document as { keys?: unknown }).keys;
  if (!Array.isArray(entries) || entries.length > MAX_JWKS_KEYS) return undefined;
  const keys: VerificationKey[] = [];
  for (const entry of entries as unknown[]) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) continue;
    const member = entry as Record<string, unknown>;
    if (!isWellFormedKid(member.kid)) continue;
    if (member.use !== undefined && member.use !== 'sig') continue;
    if (member.key_ops !== undefined && !(Array.isArray(member.key_ops) && member.key_ops.includes('verify')))
      continue;
    const jwk = publicJwkOf(member);
    if (!jwk) continue;
    let algorithms = algorithmsForKey(jwk);
    if (member.alg !== undefined) {
      const alg = member.alg;
      algorithms = isSupportedAlgorithm(alg) && algorithms.includes(alg) ? [alg] : [];
    }
    if (algorithms.length === 0) continue;
    keys.push(
      Object.freeze({ kid: member.kid, jwk: Object.freeze(jwk), algorithms: Object.freeze(algorithms) }),
    );
  }
  return { keys, skipped: entries.length - keys.length };
}

/** An immutable set of verification keys, looked up by kid, with imported keys cached. */
export class KeySet {
  private readonly byKid = new Map<string, VerificationKey[]>();
  private readonly imported = new Map<VerificationKey, Map<JwsAlgorithm, Promise<CryptoKey>>>();
  /** The keys' public members as text: two sets with the same fingerprint verify the same tokens. */
  readonly fingerprint: string;

  constructor(keys: readonly VerificationKey[]) {
    this.fingerprint = JSON.stringify(keys.map(({ kid, jwk, algorithms }) => [kid, jwk, algorithms]));
    for (const key of keys) {
      const list = this.byKid.get(key.kid) ?? [];
      list.push(key);
      this.byKid.set(key.kid, list);
    }
  }

  get size(): number {
    return this.byKid.size;
  }

  /**
   * Finds the one key with this kid that may verify `alg`. A kid shared by several keys that
   * could all verify `alg` is refused as a mismatch rather than tried one after another.
   */
  lookup(kid: string, alg: JwsAlgorithm): KeyLookup {
    const candidates = this.byKid.get(kid);
    if (!candidates) return { status: 'unknown-kid' };
    const matching = candidates.filter((key) => key.algorithms.includes(alg));
    if (matching.length !== 1) return { status: 'alg-mismatch' };
    return { status: 'found', key: matching[0]! };
  }

  /** The WebCrypto key for `key` bound to `alg` (a CryptoKey is bound to one algorithm). */
  cryptoKey(key: VerificationKey, alg: JwsAlgorithm): Promise<CryptoKey> {
    let byAlg = this.imported.get(key);
    if (!byAlg) this.imported.set(key, (byAlg = new Map<JwsAlgorithm, Promise<CryptoKey>>()));
    let pending = byAlg.get(alg);
    if (!pending) {
      pending = importJWK({ ...key.jwk, alg, ext: false }, alg).then((imported) => {
        if (imported instanceof Uint8Array) throw new TypeError('a JWKS key imported as a secret');
        return imported;
      });
      byAlg.set(alg, pending);
    }
    return pending;
  }
}
