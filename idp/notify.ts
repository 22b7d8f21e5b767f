// Security notices (detections, new devices) delivered to an operator's webhook. Delivery is
// off the login path: a notice is queued and a single worker posts it, so a slow or dead
// receiver never slows a login, and a full queue drops (and counts) rather than grows.
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { Backoff } from '../lib/backoff.ts';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';

export type NoticeKind = 'credential_stuffing' | 'impossible_travel' | 'new_device' | 'new_country';

/** What a receiver learns. Never a password, token, code, cookie or device ID. */
export interface SecurityNotice {
  kind: NoticeKind;
  /** Milliseconds since the epoch. */
  at: number;
  username: string | null;
  userId: string | null;
  source: string;
  country: string | null;
  /** What the provider did about it: e.g. ["block"], ["mfa"], []. */
  actions: string[];
  /** Small numbers that explain a detection (distance, accounts, ...). */
  detail: Record<string, number | string>;
}

export interface Notifier {
  notify(notice: SecurityNotice): void;
  /** Stops after the notices already queued are delivered or given up (bounded by the timeouts). */
  close(): Promise<void>;
}

export const nullNotifier: Notifier = Object.freeze({
  notify: () => undefined,
  close: () => Promise.resolve(),
});

export interface WebhookOptions {
  url: string;
  /** Sent as `Authorization: Bearer <token>` (e.g. to Lanyard's mesh monitor); never logged. */
  token?: string;
  /** Per attempt. */
  timeoutMs?: number;
  /** Attempts after the first, for network errors, 408, 429 and 5xx. */
  retries?: number;
  queueSize?: number;
  registry: Registry;
  logger: Logger;
  /** Injected for tests. */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  backoff?: () => Backoff;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** HTTPS, or plain HTTP to the loopback interface only; no credentials in the URL's userinfo. */
export function checkWebhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', 'webhook URL is not a URL');
  }
  const loopback =
    LOOPBACK_NAMES.has(url.hostname) || (isIP(url.hostname) === 4 && url.hostname.startsWith('127.'));
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      'webhook URL must be https, or http on the loopback interface',
    );
  }
  if (url.username || url.password) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      'webhook URL must not carry a user or password',
    );
  }
  return url;
}

const BEARER_TOKEN = /^[\x21-\x7e]{1,512}$/;

/** Reads a webhook bearer token from a file (a mounted Secret), without its trailing newline. */
export function readWebhookTokenFile(path: string): string {
  let text: string;
  try {
    text = statSync(path).size > 1024 ? '' : readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      `cannot read the webhook token file ${path.slice(0, 256)}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (!BEARER_TOKEN.test(text)) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      'the webhook token must be 1 to 512 printable ASCII characters without spaces',
    );
  }
  return text;
}

export class WebhookNotifier implements Notifier {
  private readonly url: URL;
  private readonly queue: SecurityNotice[] = [];
  private readonly deliveries: Counter<'outcome'>;
  private worker: Promise<void> | null = null;
  private closed = false;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly queueSize: number;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: WebhookOptions) {
    // The URL rule (https, or http on loopback) is what keeps the token off the wire in clear.
    this.url = checkWebhookUrl(options.url);
    if (options.token !== undefined && !BEARER_TOKEN.test(options.token))
      throw new TypeError('webhook token must be 1 to 512 printable ASCII characters without spaces');
    this.headers = {
      'content-type': 'application/json',
      ...(options.token !== undefined && { authorization: `Bearer ${options.token}` }),
    };
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.retries = options.retries ?? 3;
    this.queueSize = options.queueSize ?? 1_000;
    if (!(this.timeoutMs > 0) || !(this.retries >= 0) || !(this.queueSize >= 1))
      throw new TypeError('webhook needs timeoutMs > 0, retries >= 0, queueSize >= 1');
    this.deliveries = new Counter({
      name: 'lanyard_idp_webhook_notices_total',
      help: 'Security notices for the webhook by outcome (delivered, failed after retries, dropped: queue full)',
      labelNames: ['outcome'],
      registers: [options.registry],
    });
  }

  notify(notice: SecurityNotice): void {
    if (this.closed || this.queue.length >= this.queueSize) {
      this.deliveries.inc({ outcome: 'dropped' });
      return;
    }
    this.queue.push(notice);
    this.worker ??= this.drain().finally(() => {
      this.worker = null;
    });
  }

  /** Resolves when every notice queued so far is delivered or given up. */
  async idle(): Promise<void> {
    await this.worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker;
  }

  private async drain(): Promise<void> {
    for (let notice = this.queue.shift(); notice; notice = this.queue.shift()) {
      const delivered = await this.deliver(notice);
      this.deliveries.inc({ outcome: delivered ? 'delivered' : 'failed' });
    }
  }

  private async deliver(notice: SecurityNotice): Promise<boolean> {
    const doFetch = this.options.fetch ?? fetch;
    const wait = this.options.sleep ?? ((ms: number) => sleep(ms));
    const backoff = this.options.backoff?.() ?? new Backoff(500, 30_000);
    const body = JSON.stringify({
      type: 'lanyard.idp.security_notice',
      ...notice,
      at: new Date(notice.at).toISOString(),
    });
    for (let attempt = 0; ; attempt++) {
      let status = 0;
      try {
        const response = await doFetch(this.url, {
          method: 'POST',
          headers: this.headers,
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = response.status;
        await response.body?.cancel();
        if (status >= 200 && status < 300) return true;
      } catch {
        // A network error or timeout: status stays 0, which is retried.
      }
      const retryable = status === 0 || status === 408 || status === 429 || status >= 500;
      if (!retryable || attempt >= this.retries) {
        this.options.logger.warn(
          { kind: notice.kind, status, attempts: attempt + 1 },
          'idp webhook: notice not delivered',
        );
        return false;
      }
      await wait(backoff.next());
    }
  }
}
