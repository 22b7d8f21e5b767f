import type { Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { generateAuthority, type AuthorityMaterial } from './authority.ts';
import { isLanyardError } from '../lib/errors.ts';
import { generateJwtKey, loadJwtKey, type JwtSigningKey } from './jwt.ts';
import type { KeyStore, StoredState } from './keystore.ts';
import { lifetimeOf, nextRotationStep, type RotationPolicy, type RotationStep } from './rotation.ts';
import { loadSigner, type Signer } from './signer.ts';
import type { AuthorityRecord, CaState } from './state.ts';

/** The roots a workload must trust, and a sequence number that grows with every change. */
export interface TrustBundle {
  readonly sequence: number;
  readonly rootPems: readonly string[];
}

export interface KeyringOptions {
  readonly store: KeyStore;
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly rotation: RotationPolicy;
  /** Root lifetime for roots Lanyard makes; default 10 years. */
  readonly rootValidityMs?: number;
  /** When set, Lanyard signs leaves with an intermediate of this lifetime under its root. */
  readonly intermediateValidityMs?: number;
  /** An operator-supplied CA, used instead of a generated one when the store is empty. */
  readonly supplied?: AuthorityMaterial;
  readonly logger?: Logger;
  /** tick() logs a warning while the active root or signer expires within this; default 30 days. */
  readonly expiryWarningMs?: number;
}

interface Loaded {
  readonly stored: StoredState;
  readonly signer: Signer;
  readonly jwtKeys: readonly JwtSigningKey[];
  readonly bundle: readonly string[];
}

const MAX_STEPS_PER_TICK = 8;

/**
 * The CA's key material: loads it from the key store (creating it race-free when absent),
 * applies A/B rotation steps on tick(), and tells listeners when the trust bundle changes.
 */
export class Keyring {
  private loaded!: Loaded;
  private sequence = 0;
  private readonly listeners = new Set<(bundle: TrustBundle) => void>();

  private constructor(private readonly options: KeyringOptions) {}

  static async open(options: KeyringOptions): Promise<Keyring> {
    const keyring = new Keyring(options);
    const stored =
      (await options.store.load()) ?? (await options.store.createIfAbsent(await keyring.initialState()));
    await keyring.use(stored);
    return keyring;
  }

  get signer(): Signer {
    return this.loaded.signer;
  }

  /** The current JWT signing key, then the previous one while tokens it signed may live. */
  get jwtKeys(): readonly JwtSigningKey[] {
    return this.loaded.jwtKeys;
  }

  get state(): CaState {
    return this.loaded.stored.state;
  }

  bundle(): TrustBundle {
    return { sequence: this.sequence, rootPems: this.loaded.bundle };
  }

  onBundleChange(listener: (bundle: TrustBundle) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Seconds until the active root and signer expire (the same when the root signs). */
  expiry(): { rootNotAfter: number; signerNotAfter: number } {
    const { signer } = this.loaded;
    return { rootNotAfter: Date.parse(signer.root.validTo), signerNotAfter: Date.parse(signer.cert.validTo) };
  }

  /**
   * Reloads the stored state (another replica may have rotated) and applies the rotation steps
   * that are due. A conflicting write by another replica is not an error: its state is used.
   */
  async tick(): Promise<RotationStep[]> {
    const applied: RotationStep[] = [];
    let stored = (await this.options.store.load()) ?? this.loaded.stored;
    for (let i = 0; i < MAX_STEPS_PER_TICK; i++) {
      const step = nextRotationStep(stored.state, this.options.clock.now(), this.options.rotation);
      if (!step) break;
      try {
        stored = await this.options.store.replace(await this.apply(stored.state, step), stored.revision);
        applied.push(step);
      } catch (error) {
        if (!isLanyardError(error, 'ERR_CA_KEYSTORE_CONFLICT')) throw error;
        stored = (await this.options.store.load()) ?? stored;
      }
    }
    await this.use(stored);
    this.warnIfExpiring();
    return applied;
  }

  private warnIfExpiring(): void {
    const now = this.options.clock.now();
    const { rootNotAfter, signerNotAfter } = this.expiry();
    const notAfter = Math.min(rootNotAfter, signerNotAfter);
    if (notAfter - now > (this.options.expiryWarningMs ?? 30 * 24 * 3600_000)) return;
    (this.options.logger ?? silentLogger).warn(
      {
        rootNotAfter: new Date(rootNotAfter).toISOString(),
        signerNotAfter: new Date(signerNotAfter).toISOString(),
      },
      this.loaded.stored.state.active.external
        ? 'the supplied CA expires soon: supply the next one'
        : 'the active CA expires soon and no rotation has replaced it',
    );
  }

  private async initialState(): Promise<CaState> {
    const now = this.options.clock.now();
    const material = this.options.supplied ?? (await this.generate());
    return {
      version: 1,
      active: { ...material, createdAt: now, ...(this.options.supplied ? { external: true } : {}) },
      jwtCurrent: generateJwtKey(now),
    };
  }

  private generate(): Promise<AuthorityMaterial> {
    return generateAuthority({
      trustDomain: this.options.trustDomain,
      clock: this.options.clock,
      ...(this.options.rootValidityMs !== undefined ? { rootValidityMs: this.options.rootValidityMs } : {}),
      ...(this.options.intermediateValidityMs !== undefined
        ? { intermediateValidityMs: this.options.intermediateValidityMs }
        : {}),
    });
  }

  private async apply(state: CaState, step: RotationStep): Promise<CaState> {
    const now = this.options.clock.now();
    const { rotation } = this.options;
    switch (step.kind) {
      case 'prepare-root':
        return { ...state, next: { ...(await this.generate()), createdAt: now } };
      case 'activate-root': {
        const { next, ...rest } = state;
        // The old root stays trusted until every leaf it signed has expired.
        const retireAt = Math.min(now + rotation.leafLifetimeMs, lifetimeOf(state.active).notAfter);
        return { ...rest, active: next!, retiring: { ...state.active, retireAt } };
      }
      case 'drop-root':
        return { ...state, retiring: undefined };
      case 'rotate-jwt-key':
        return {
          ...state,
          jwtCurrent: generateJwtKey(now),
          jwtPrevious: { ...state.jwtCurrent, retireAt: now + rotation.jwtLifetimeMs },
        };
      case 'drop-jwt-key':
        return { ...state, jwtPrevious: undefined };
    }
  }

  private async use(stored: StoredState): Promise<void> {
    if (this.loaded?.stored.revision === stored.revision) return;
    const { state } = stored;
    const records: AuthorityRecord[] = [state.active, state.next, state.retiring].filter(
      (record): record is AuthorityRecord => record !== undefined,
    );
    const bundle = [...new Set(records.map((record) => record.rootPem))];
    const jwtKeys = await Promise.all(
      [state.jwtCurrent, state.jwtPrevious].flatMap((record) => (record ? [loadJwtKey(record)] : [])),
    );
    const previous = this.loaded?.bundle;
    this.loaded = { stored, signer: loadSigner(state.active), jwtKeys, bundle };
    // Activation reorders the roots but changes nothing a verifier sees.
    if (previous && [...previous].sort().join() === [...bundle].sort().join()) return;
    this.sequence += 1;
    const snapshot = this.bundle();
    for (const listener of this.listeners) listener(snapshot);
  }
}
