// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// every replica serves reads; only the holder of an unexpired lease writes. Updates carry the
// lease's resourceVersion, so two candidates can never both win the same round.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { apiStatus } from './api-errors.ts';

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  leaseName: string;
  /** This replica's identity, unique among candidates (e.g. the pod name). */
  identity: string;
  /** How long a lease holds without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long steps down. Default 10 s. */
  renewDeadlineMs?: number;
  /** How often to try to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  log?: Logger;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private leading = false;
  private lastRenewAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private inFlight: Promise<void> | undefined;
  /** The lease as this replica last observed it, and when (by its own clock). */
  private observed: { holder: string; renewTime: string; at: number } | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.log = options.log ?? silentLogger;
    if (!(this.retryPeriodMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new TypeError('leader election needs retryPeriod < renewDeadline < leaseDuration');
    }
    if (!options.identity) throw new TypeError('leader election needs an identity');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.tick();
  }

  /** Stops campaigning; a leader releases the lease so that another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
    if (this.leading) {
      await this.release().catch((error: unknown) =>
        this.log.warn({ lease: this.options.leaseName, err: String(error) }, 'could not release the lease'),
      );
      this.setLeading(false);
    }
  }

  private tick(): void {
    this.inFlight = this.tryAcquireOrRenew()
      .then((held) => {
        // Losing a round to another holder (or to a conflicting write) means stepping down now.
        if (held) this.lastRenewAt = Date.now();
        this.setLeading(held);
      })
      .catch((error: unknown) => {
        this.log.warn({ lease: this.options.leaseName, err: String(error) }, 'leader election round failed');
        // The API server may be briefly unreachable: keep leading until the renew deadline.
        if (this.leading && Date.now() - this.lastRenewAt > this.renewDeadlineMs) this.setLeading(false);
      })
      .finally(() => {
        if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.retryPeriodMs);
      });
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.log.info(
      { lease: this.options.leaseName, identity: this.options.identity, leading },
      'leadership changed',
    );
    if (leading) this.options.onStartedLeading?.();
    else this.options.onStoppedLeading?.();
  }

  private spec(previous?: V1Lease): V1Lease['spec'] {
    const now = new V1MicroTime(Date.now());
    const sameHolder = previous?.spec?.holderIdentity === this.options.identity;
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: sameHolder && previous?.spec?.acquireTime ? previous.spec.acquireTime : now,
      renewTime: now,
      leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (sameHolder ? 0 : 1),
    };
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity } = this.options;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: this.spec() },
        });
        return true;
      } catch (createError) {
        if (apiStatus(createError) === 409) return false;
        throw createError;
      }
    }

    const holder = lease.spec?.holderIdentity ?? '';
    const renewTime = String(lease.spec?.renewTime ?? '');
    // Expiry is judged by this replica's own clock from when it saw the renewTime change,
    // not by comparing clocks across machines.
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    const expired = holder === '' || Date.now() - this.observed.at > durationMs;
    if (holder !== identity && !expired) return false;

    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: this.spec(lease) } });
      return true;
    } catch (error) {
      if (apiStatus(error) === 409) return false;
      throw error;
    }
  }

  private async release(): Promise<void> {
    const { namespace, leaseName: name, identity } = this.options;
    const lease = await this.api.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    await this.api.replaceNamespacedLease({
      name,
      namespace,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
    });
  }
}
