import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecretBox, loadSecretKeyFile, parseSecretKey } from './secret-box.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('secret box (AES-256-GCM)', () => {
  const box = createSecretBox(randomBytes(32));

  it('opens what it sealed, and the ciphertext does not hold the plaintext', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'totp:u1');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.open(sealed, 'totp:u1')).toBe('JBSWY3DPEHPK3PXP');
    expect(box.seal('same', 'c')).not.toBe(box.seal('same', 'c'));
  });

  it('refuses another row’s context, a tampered ciphertext, another key and garbage', () => {
    const sealed = box.seal('secret', 'totp:u1');
    expect(() => box.open(sealed, 'totp:u2')).toThrow(
      expect.objectContaining({ code: 'ERR_IDP_KEY_INVALID' }),
    );
    const [version, iv, body] = sealed.split('.') as [string, string, string];
    const flipped = Buffer.from(body, 'base64url');
    flipped[0]! ^= 1;
    expect(() => box.open(`${version}.${iv}.${flipped.toString('base64url')}`, 'totp:u1')).toThrow(
      expect.objectContaining({ code: 'ERR_IDP_KEY_INVALID' }),
    );
    expect(() => createSecretBox(randomBytes(32)).open(sealed, 'totp:u1')).toThrow(
      expect.objectContaining({ code: 'ERR_IDP_KEY_INVALID' }),
    );
    for (const garbage of ['', 'v1', 'v2.a.b', 'v1.a.b.c']) {
      expect(() => box.open(garbage, 'totp:u1')).toThrow(
        expect.objectContaining({ code: 'ERR_IDP_KEY_INVALID' }),
      );
    }
  });

  it('needs a 32-byte key', () => {
    expect(() => createSecretBox(randomBytes(16))).toThrow(
      expect.objectContaining({ code: 'ERR_IDP_KEY_INVALID' }),
    );
    expect(() => parseSecretKey(randomBytes(31).toString('base64'))).toThrow(
      expect.objectContaining({ code: 'ERR_IDP_KEY_INVALID' }),
    );
    expect(parseSecretKey(Buffer.alloc(32, 7).toString('base64'))).toEqual(Buffer.alloc(32, 7));
  });

  it('creates a missing key file with mode 0600 and reads the same key back', () => {
    const path = join(dir, 'created.key');
    const key = loadSecretKeyFile(path, { create: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadSecretKeyFile(path, { create: false })).toEqual(key);
  });

  it('refuses a key file that group or others can read, and a missing one unless asked to create', () => {
    const path = join(dir, 'open.key');
    writeFileSync(path, randomBytes(32).toString('base64'));
    chmodSync(path, 0o644);
    expect(() => loadSecretKeyFile(path, { create: false })).toThrow(/chmod 600/);
    expect(() => loadSecretKeyFile(join(dir, 'absent.key'), { create: false })).toThrow(
      expect.objectContaining({ code: 'ERR_IDP_KEY_INVALID' }),
    );
  });
});
