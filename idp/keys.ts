import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Clock } from '../lib/clock.ts';
import type { SecretBox } from './secret-box.ts';
import type { IdpStore } from './store/types.ts';

export interface SigningKeyOptions {
  /** A key signs for this long before a new one takes over. */
  rotateAfterMs: number;
  /**
   * A retired key stays in the JWKS this long, so tokens it signed still verify: at least the
   * longest token lifetime plus verifiers' JWKS cache age.
   */
  overlapMs: number;
}

export const DEFAULT_SIGNING_KEY_OPTIONS: SigningKeyOptions = Object.freeze({
  rotateAfterMs: 7 * 24 * 3600_000,
  overlapMs: 24 * 3600_000,
});

interface LoadedKey {
  kid: string;
  createdAt: number;
  retiredAt: number | null;
  privateKey: KeyObject;
  publicJwk: JWK;
}

const keyContext = (kid: string): string => `signing-key:${kid}`;

/** ES256 signing keys kept in the store (sealed), rotated with overlap in the JWKS. */
export class SigningKeys {
  private keys: LoadedKey[] = [];

  constructor(
    private readonly store: IdpStore,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly options: SigningKeyOptions = DEFAULT_SIGNING_KEY_OPTIONS,
  ) {}

  /** Loads the keys, rotating first when there is no current key or it is due. */
  async refresh(): Promise<void> {
    const now = this.clock.now();
    await this.store.deleteExpiredSigningKeys(now);
    await this.load();
    const current = this.current();
    if (!current || now - current.createdAt >= this.options.rotateAfterMs) await this.rotate();
  }

  /** Makes a new current key; the previous one keeps verifying for the overlap. */
  async rotate(): Promise<string> {
    const now = this.clock.now();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! });
    await this.store.addSigningKey({
      kid,
      privateJwkCiphertext: this.box.seal(JSON.stringify(jwk), keyContext(kid)),
      createdAt: now,
      retiredAt: null,
      expiresAt: null,
    });
    for (const key of this.keys) {
      if (key.retiredAt === null)
        await this.store.retireSigningKey(key.kid, now, now + this.options.overlapMs);
    }
    await this.load();
    return kid;
  }

  private async load(): Promise<void> {
    const records = await this.store.listSigningKeys();
    this.keys = records.map((record) => {
      const jwk = JSON.parse(this.box.open(record.privateJwkCiphertext, keyContext(record.kid))) as JWK;
      const privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
      const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
      return {
        kid: record.kid,
        createdAt: record.createdAt,
        retiredAt: record.retiredAt,
        privateKey,
        publicJwk: { ...publicJwk, kid: record.kid, alg: 'ES256', use: 'sig' },
      };
    });
  }

  private current(): LoadedKey | undefined {
    // Two replicas rotating at once leave two unretired keys: the newest signs, both verify.
    return this.keys.filter((key) => key.retiredAt === null).sort((a, b) => b.createdAt - a.createdAt)[0];
  }

  signingKey(): { kid: string; key: KeyObject } {
    const current = this.current();
    if (!current) throw new Error('SigningKeys.refresh() must run before signing');
    return { kid: current.kid, key: current.privateKey };
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((key) => key.publicJwk) };
  }
}
