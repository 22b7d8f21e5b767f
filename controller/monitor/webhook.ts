// Detection notifications by webhook: POST of the detection as JSON, each attempt bounded by a
// timeout, a bounded number of retries with backoff, and a bounded queue drained by one
// worker. `notify` only enqueues: a slow or dead receiver never delays event ingestion.
import { Backoff } from '../../lib/backoff.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { MonitorErrorCode } from './errors.ts';

export interface WebhookOptions {
  url: string;
  /** Per attempt. Default 5 s. */
  timeoutMs?: number;
  /** Attempts after the first. Default 3. */
  retries?: number;
  /** Notifications waiting to be sent; more are dropped and counted. Default 100. */
  maxQueue?: number;
  /** Extra headers (e.g. an Authorization the receiver expects); never logged. */
  headers?: Record<string, string>;
  backoff?: Backoff;
  log?: Logger;
}

export interface WebhookStats {
  sent: number;
  failed: number;
  dropped: number;
}

export class WebhookNotifier {
  private readonly queue: unknown[] = [];
  private running: Promise<void> | undefined;
  private closed = false;
  readonly stats: WebhookStats = { sent: 0, failed: 0, dropped: 0 };
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxQueue: number;
  private readonly backoff: Backoff;

  constructor(private readonly options: WebhookOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new TypeError('webhook URL must be http(s)');
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retries = options.retries ?? 3;
    this.maxQueue = options.maxQueue ?? 100;
    this.backoff = options.backoff ?? new Backoff(500, 10_000);
    this.log = options.log ?? silentLogger;
  }

  /** Queues a payload; returns at once. False when the queue was full (dropped and counted). */
  notify(payload: unknown): boolean {
    if (this.closed || this.queue.length >= this.maxQueue) {
      this.stats.dropped += 1;
      return false;
    }
    this.queue.push(payload);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return true;
  }

  /** Resolves when the queue is empty (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops taking notifications; what is queued is still attempted. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  private async drain(): Promise<void> {
    for (let payload = this.queue.shift(); payload !== undefined; payload = this.queue.shift()) {
      await this.deliver(payload);
    }
  }

  private async deliver(payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    this.backoff.reset();
    let last = '';
    for (let attempt = 0; attempt <= this.retries; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, this.backoff.next()));
      try {
        const response = await fetch(this.options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...this.options.headers },
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) {
          this.stats.sent += 1;
          return;
        }
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = error instanceof Error ? error.name : 'error';
      }
    }
    this.stats.failed += 1;
    const code: MonitorErrorCode = 'ERR_MONITOR_WEBHOOK_FAILED';
    this.log.warn(
      { code, attempts: this.retries + 1, last },
      'detection webhook failed; notification dropped',
    );
  }
}
