// A work queue keyed by object: a key is queued at most once, processed by one worker at a
// time, queued again if it changed while being processed, and retried with per-key backoff
// when its reconcile fails. Reconciles are level-based, so coalescing keys loses nothing.
import { Backoff } from '../lib/backoff.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';

export interface WorkQueueOptions {
  name: string;
  /** Reconciles one key. Throwing schedules a retry with backoff. */
  reconcile: (key: string) => Promise<void>;
  concurrency?: number;
  /** Backoff for retries of one key; default 200 ms doubling to 5 min. */
  newBackoff?: () => Backoff;
  log?: Logger;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly retries = new Map<string, { backoff: Backoff; timer?: NodeJS.Timeout }>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly log: Logger;
  private active = 0;
  private shuttingDown = false;

  constructor(private readonly options: WorkQueueOptions) {
    this.concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new TypeError('work queue concurrency must be a positive integer');
    }
    this.log = options.log ?? silentLogger;
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Resolves when nothing is queued, processing or waiting for a retry. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work, cancels pending retries and waits for running reconciles. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.queue.length = 0;
    this.queued.clear();
    for (const retry of this.retries.values()) clearTimeout(retry.timer);
    this.retries.clear();
    this.dirty.clear();
    await this.idle();
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.active === 0 && [...this.retries.values()].every((r) => !r.timer);
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active += 1;
      void this.process(key);
    }
    if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async process(key: string): Promise<void> {
    try {
      await this.options.reconcile(key);
      this.retries.delete(key);
    } catch (error) {
      this.scheduleRetry(key, error);
    } finally {
      this.processing.delete(key);
      this.active -= 1;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }

  private scheduleRetry(key: string, error: unknown): void {
    if (this.shuttingDown) return;
    let retry = this.retries.get(key);
    if (!retry) {
      retry = { backoff: this.options.newBackoff?.() ?? new Backoff(200, 300_000) };
      this.retries.set(key, retry);
    }
    const delay = retry.backoff.next();
    this.log.warn(
      {
        queue: this.options.name,
        key,
        retryInMs: delay,
        err: error instanceof Error ? error.message : String(error),
      },
      'reconcile failed; will retry',
    );
    const entry = retry;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.add(key);
    }, delay);
  }
}
