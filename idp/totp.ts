import { createHmac, randomBytes } from 'node:crypto';

/** RFC 6238 TOTP over RFC 4226 HOTP. Pure: time comes in as a number. */
export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface TotpParameters {
  algorithm: TotpAlgorithm;
  digits: number;
  periodSeconds: number;
}

/** What every authenticator app understands. */
export const DEFAULT_TOTP: TotpParameters = Object.freeze({
  algorithm: 'sha1',
  digits: 6,
  periodSeconds: 30,
});

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/=+$/, '');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new TypeError('not base32');
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** 160 random bits, the HMAC-SHA1 block size RFC 4226 recommends. */
export function generateTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

export function totpStep(nowMs: number, parameters: TotpParameters = DEFAULT_TOTP): number {
  return Math.floor(nowMs / 1000 / parameters.periodSeconds);
}

export function hotp(secret: Buffer, counter: number, parameters: TotpParameters = DEFAULT_TOTP): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(parameters.algorithm, secret).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** parameters.digits).padStart(parameters.digits, '0');
}

export interface TotpCheck {
  /** The base32 secret. */
  secret: string;
  code: string;
  nowMs: number;
  /** The last step accepted for this user; only later steps are accepted (no replay). */
  lastStep: number;
  /** Steps of clock drift tolerated either side; 1 is RFC 6238's recommendation. */
  window?: number;
  parameters?: TotpParameters;
}

/** The step the code belongs to, or null. Compare-all so timing does not reveal which step matched. */
export function matchTotp(check: TotpCheck): number | null {
  const parameters = check.parameters ?? DEFAULT_TOTP;
  if (!new RegExp(`^\\d{${parameters.digits}}$`).test(check.code)) return null;
  const secret = base32Decode(check.secret);
  const now = totpStep(check.nowMs, parameters);
  const window = check.window ?? 1;
  let matched: number | null = null;
  for (let step = now - window; step <= now + window; step++) {
    const candidate = hotp(secret, step, parameters);
    if (timingSafeEqualText(candidate, check.code) && step > check.lastStep && matched === null)
      matched = step;
  }
  return matched;
}

function timingSafeEqualText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export function otpauthUri(options: { issuer: string; account: string; secret: string }): string {
  const label = `${encodeURIComponent(options.issuer)}:${encodeURIComponent(options.account)}`;
  const query = new URLSearchParams({
    secret: options.secret,
    issuer: options.issuer,
    algorithm: 'SHA1',
    digits: String(DEFAULT_TOTP.digits),
    period: String(DEFAULT_TOTP.periodSeconds),
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}
