import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { idpError } from './errors.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

/**
 * AES-256-GCM for secrets at rest (TOTP secrets, signing keys). The context (e.g. `totp:<user>`)
 * is authenticated data: a ciphertext copied to another row does not open there.
 */
export interface SecretBox {
  seal(plaintext: string, context: string): string;
  open(sealed: string, context: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== KEY_BYTES) throw idpError('ERR_IDP_KEY_INVALID', 'the secret key must be 32 bytes');
  const secret = Buffer.from(key);
  return {
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', secret, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(sealed, context) {
      const [version, ivText, bodyText, extra] = sealed.split('.');
      const iv = Buffer.from(ivText ?? '', 'base64url');
      const body = Buffer.from(bodyText ?? '', 'base64url');
      if (version !== VERSION || extra !== undefined || iv.length !== IV_BYTES || body.length < TAG_BYTES) {
        throw idpError('ERR_IDP_KEY_INVALID', 'a sealed secret is malformed');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', secret, iv);
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        return Buffer.concat([
          decipher.update(body.subarray(0, body.length - TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw idpError('ERR_IDP_KEY_INVALID', 'a sealed secret does not decrypt with this key');
      }
    },
  };
}

/** A key given as configuration: 32 bytes, base64 or base64url. */
export function parseSecretKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES) {
    throw idpError('ERR_IDP_KEY_INVALID', 'the secret key must be 32 bytes, base64-encoded');
  }
  return key;
}

/**
 * Reads the key file, creating it (mode 0600) with a fresh key when absent. A file that group
 * or others can read is refused: the key decrypts every TOTP secret.
 */
export function loadSecretKeyFile(path: string, options: { create: boolean }): Buffer {
  if (!existsSync(path)) {
    if (!options.create) throw idpError('ERR_IDP_KEY_INVALID', `the secret key file ${path} does not exist`);
    writeFileSync(path, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  }
  if ((statSync(path).mode & 0o077) !== 0) {
    throw idpError(
      'ERR_IDP_KEY_INVALID',
      `the secret key file ${path} must not be readable by group or others (chmod 600)`,
    );
  }
  return parseSecretKey(readFileSync(path, 'utf8'));
}
