import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestKey, type TestKey } from '../../test/helpers/sidecar-jwt.ts';
import { KeySet, parseJwks } from './keyset.ts';

let ec: TestKey;
let rsa: TestKey;

beforeAll(async () => {
  [ec, rsa] = await Promise.all([createTestKey('ES256', 'ec'), createTestKey('RS256', 'rsa')]);
});

describe('parseJwks', () => {
  it('keeps signing keys and only their public members', () => {
    const parsed = parseJwks({ keys: [{ ...ec.publicJwk, d: 'private', x5c: ['MIIB'] }] })!;
    expect(parsed.keys).toHaveLength(1);
    expect(parsed.keys[0]!.jwk).toEqual({ kty: 'EC', crv: 'P-256', x: ec.publicJwk.x, y: ec.publicJwk.y });
    expect(parsed.keys[0]!.algorithms).toEqual(['ES256']);
  });

  it('narrows an RSA key to its alg, or allows every RSA algorithm without one', () => {
    const parsed = parseJwks({ keys: [rsa.publicJwk, { ...rsa.publicJwk, kid: 'any', alg: undefined }] })!;
    expect(parsed.keys.map((key) => key.algorithms)).toEqual([
      ['RS256'],
      ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
    ]);
  });

  it('skips keys that must never verify here', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const parsed = parseJwks({
      keys: [
        { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
        { ...weak, kid: 'weak' },
        { ...ec.publicJwk, kid: 'enc', use: 'enc' },
        { ...ec.publicJwk, kid: 'ops', key_ops: ['encrypt'] },
        { ...ec.publicJwk, kid: undefined },
        { ...ec.publicJwk, kid: 'bad kid' },
        { ...ec.publicJwk, kid: 'hs', alg: 'HS256' },
        { ...ec.publicJwk, kid: 'wrong-curve-alg', alg: 'ES384' },
        { ...ec.publicJwk, kid: 'p521', crv: 'P-521' },
        { kty: 'OKP', crv: 'X25519', x: 'AAAA', kid: 'x25519' },
        'not an object',
        null,
      ],
    })!;
    expect(parsed.keys).toEqual([]);
    expect(parsed.skipped).toBe(12);
  });

  it('refuses documents that are not a JWKS or hold too many keys', () => {
    expect(parseJwks(null)).toBeUndefined();
    expect(parseJwks({ keys: {} })).toBeUndefined();
    expect(parseJwks({ keys: Array.from({ length: 101 }, () => ec.publicJwk) })).toBeUndefined();
  });
});

describe('KeySet.lookup', () => {
  it('finds by exact kid, never by prototype properties', () => {
    const keys = new KeySet(parseJwks({ keys: [ec.publicJwk] })!.keys);
    expect(keys.lookup('ec', 'ES256').status).toBe('found');
    expect(keys.lookup('EC', 'ES256').status).toBe('unknown-kid');
    expect(keys.lookup('__proto__', 'ES256').status).toBe('unknown-kid');
    expect(keys.lookup('toString', 'ES256').status).toBe('unknown-kid');
    expect(keys.lookup('ec', 'RS256').status).toBe('alg-mismatch');
  });

  it('refuses a kid shared by two keys that could both verify the alg', () => {
    const keys = new KeySet(
      parseJwks({ keys: [ec.publicJwk, { ...rsa.publicJwk, kid: 'ec' }, ec.publicJwk] })!.keys,
    );
    expect(keys.lookup('ec', 'RS256').status).toBe('found');
    expect(keys.lookup('ec', 'ES256').status).toBe('alg-mismatch');
  });
});
