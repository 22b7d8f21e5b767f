import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  hotp,
  matchTotp,
  otpauthUri,
  totpStep,
  type TotpParameters,
} from './totp.ts';

// RFC 6238 Appendix B: the seeds are ASCII digits, and the vectors use 8-digit codes.
const SEEDS = {
  sha1: Buffer.from('12345678901234567890'),
  sha256: Buffer.from('12345678901234567890123456789012'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
};
const VECTORS: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(VECTORS)('matches the RFC test vectors at T=%i', (seconds, sha1, sha256, sha512) => {
    for (const [algorithm, expected] of [
      ['sha1', sha1],
      ['sha256', sha256],
      ['sha512', sha512],
    ] as const) {
      const parameters: TotpParameters = { algorithm, digits: 8, periodSeconds: 30 };
      expect(hotp(SEEDS[algorithm], totpStep(seconds * 1000, parameters), parameters)).toBe(expected);
    }
  });

  it('round-trips base32 (RFC 4648) and decodes a known value', () => {
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32Decode('MZXW6YTBOI').toString()).toBe('foobar');
    expect(() => base32Decode('not-base32!')).toThrow(TypeError);
  });

  const secret = base32Encode(SEEDS.sha1);
  const now = 1111111111_000;
  const code = (ms: number): string => hotp(SEEDS.sha1, totpStep(ms));

  it('accepts the current code and one step of drift either side, and says which step', () => {
    expect(matchTotp({ secret, code: code(now), nowMs: now, lastStep: 0 })).toBe(totpStep(now));
    expect(matchTotp({ secret, code: code(now - 30_000), nowMs: now, lastStep: 0 })).toBe(totpStep(now) - 1);
    expect(matchTotp({ secret, code: code(now + 30_000), nowMs: now, lastStep: 0 })).toBe(totpStep(now) + 1);
  });

  it('refuses an expired code (two steps old)', () => {
    expect(matchTotp({ secret, code: code(now - 60_000), nowMs: now, lastStep: 0 })).toBeNull();
  });

  it('refuses a code of the last step used or earlier (replay)', () => {
    const step = totpStep(now);
    expect(matchTotp({ secret, code: code(now), nowMs: now, lastStep: step })).toBeNull();
    expect(matchTotp({ secret, code: code(now - 30_000), nowMs: now, lastStep: step - 1 })).toBeNull();
  });

  it('refuses malformed codes', () => {
    for (const bad of ['', '12345', '1234567', 'abcdef', ' 123456', '１２３４５６']) {
      expect(matchTotp({ secret, code: bad, nowMs: now, lastStep: 0 })).toBeNull();
    }
  });

  it('builds an otpauth URI that authenticator apps read', () => {
    const uri = new URL(otpauthUri({ issuer: 'Lanyard Demo', account: 'alice@shop', secret: 'ABC' }));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Lanyard Demo:alice@shop');
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret: 'ABC',
      issuer: 'Lanyard Demo',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });
});
