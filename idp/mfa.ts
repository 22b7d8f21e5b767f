import QRCode from 'qrcode';
import type { Clock } from '../lib/clock.ts';
import { idpError } from './errors.ts';
import { generateRecoveryCodes, hashRecoveryCode, looksLikeRecoveryCode } from './recovery.ts';
import type { SecretBox } from './secret-box.ts';
import type { IdpStore, UserRecord } from './store/types.ts';
import { generateTotpSecret, matchTotp, otpauthUri } from './totp.ts';

export interface Enrolment {
  secret: string;
  uri: string;
  /** The URI as a QR code, an SVG document. */
  qrSvg: string;
}

/** What the second factor was: an authenticator code or a single-use recovery code. */
export type SecondFactor = 'otp' | 'recovery';

const totpContext = (userId: string): string => `totp:${userId}`;
const pendingContext = (userId: string): string => `totp-pending:${userId}`;

/** TOTP enrolment and verification over the store; secrets are sealed before they are stored. */
export class MfaService {
  constructor(
    private readonly store: IdpStore,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly issuer: string,
  ) {}

  async enrolled(userId: string): Promise<boolean> {
    return (await this.store.totpOf(userId))?.confirmed === true;
  }

  /** Starts (or restarts) enrolment; the secret counts only after confirmEnrolment. */
  async beginEnrolment(user: UserRecord): Promise<Enrolment> {
    const secret = generateTotpSecret();
    await this.store.putTotp({
      userId: user.id,
      secretCiphertext: this.box.seal(secret, totpContext(user.id)),
      lastStep: 0,
      confirmed: false,
    });
    const uri = otpauthUri({ issuer: this.issuer, account: user.username, secret });
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { secret, uri, qrSvg };
  }

  /** Proves the user holds the secret; returns the recovery codes, shown once. */
  async confirmEnrolment(userId: string, code: string): Promise<string[]> {
    const record = await this.store.totpOf(userId);
    if (!record || record.confirmed) throw idpError('ERR_IDP_MFA_FAILED', 'no enrolment is pending');
    await this.acceptTotp(userId, record.secretCiphertext, record.lastStep, code);
    await this.store.confirmTotp(userId);
    const codes = generateRecoveryCodes();
    await this.store.putRecoveryCodes(userId, codes.map(hashRecoveryCode));
    return codes;
  }

  private async render(user: UserRecord, secret: string): Promise<Enrolment> {
    const uri = otpauthUri({ issuer: this.issuer, account: user.username, secret });
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { secret, uri, qrSvg };
  }

  /**
   * Starts an enrolment without touching the store: the new secret comes back sealed, for the
   * caller's session, so an abandoned re-enrolment leaves the current authenticator working.
   */
  async startPending(user: UserRecord): Promise<{ enrolment: Enrolment; sealed: string }> {
    const secret = generateTotpSecret();
    return {
      enrolment: await this.render(user, secret),
      sealed: this.box.seal(secret, pendingContext(user.id)),
    };
  }

  /** The pending enrolment again (to show its QR code after a wrong first code). */
  showPending(user: UserRecord, sealed: string): Promise<Enrolment> {
    return this.render(user, this.box.open(sealed, pendingContext(user.id)));
  }

  /**
   * Replaces any enrolment with the pending one once a first code proves it (in one write, so no
   * moment without a confirmed secret); that code's step counts as used. Returns the new
   * recovery codes, shown once.
   */
  async confirmPending(user: UserRecord, sealed: string, code: string): Promise<string[]> {
    const secret = this.box.open(sealed, pendingContext(user.id));
    const step = matchTotp({ secret, code: code.trim(), nowMs: this.clock.now(), lastStep: 0 });
    if (step === null) throw idpError('ERR_IDP_MFA_FAILED', 'the code is not valid');
    await this.store.putTotp({
      userId: user.id,
      secretCiphertext: this.box.seal(secret, totpContext(user.id)),
      lastStep: step,
      confirmed: true,
    });
    const codes = generateRecoveryCodes();
    await this.store.putRecoveryCodes(user.id, codes.map(hashRecoveryCode));
    return codes;
  }

  /** Accepts a current TOTP code once, or an unused recovery code once. */
  async verify(userId: string, code: string): Promise<SecondFactor> {
    const trimmed = code.trim();
    if (trimmed.length > 64) throw idpError('ERR_IDP_MFA_FAILED', 'the code is not valid');
    const record = await this.store.totpOf(userId);
    if (!record?.confirmed) throw idpError('ERR_IDP_MFA_FAILED', 'the code is not valid');
    if (looksLikeRecoveryCode(trimmed)) {
      if (await this.store.useRecoveryCode(userId, hashRecoveryCode(trimmed))) return 'recovery';
      throw idpError('ERR_IDP_MFA_FAILED', 'the code is not valid');
    }
    await this.acceptTotp(userId, record.secretCiphertext, record.lastStep, trimmed);
    return 'otp';
  }

  private async acceptTotp(userId: string, sealed: string, lastStep: number, code: string): Promise<void> {
    const secret = this.box.open(sealed, totpContext(userId));
    const step = matchTotp({ secret, code, nowMs: this.clock.now(), lastStep });
    // The conditional update refuses a step already used, even by a concurrent request.
    if (step === null || !(await this.store.advanceTotpStep(userId, step))) {
      throw idpError('ERR_IDP_MFA_FAILED', 'the code is not valid');
    }
  }
}
