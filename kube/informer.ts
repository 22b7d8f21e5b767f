// A list-then-watch cache of one kind of object. Watches can go quiet without an error, so
// a watchdog restarts any watch that has been silent too long (healthy ones get bookmarks),
// every watch is replaced after a bounded time by a fresh list, and every relist reconciles
// the cache with the server, emitting the adds, updates and deletes that a watch missed.
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Backoff } from '../lib/backoff.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { objectKey } from './object-key.ts';

export interface ObjectList<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export type InformerEventType = 'added' | 'updated' | 'deleted';

export interface InformerEvent<T> {
  type: InformerEventType;
  key: string;
  object: T;
}

export interface InformerOptions<T extends KubernetesObject> {
  /** Names the informer in logs. */
  name: string;
  kubeConfig: KubeConfig;
  /** The API path to watch, e.g. /api/v1/pods or /apis/lanyard.dev/v1alpha1/authpolicies. */
  path: string;
  /** Lists the same objects as `path` (it gives the resourceVersion the watch starts from). */
  list: () => Promise<ObjectList<T>>;
  /** Called for every change; handlers should only enqueue keys. */
  onEvent: (event: InformerEvent<T>) => void;
  /** A watch silent for this long is restarted. Default 3 min (bookmarks arrive about every minute). */
  watchdogMs?: number;
  /** Each watch is replaced by a relist after about this long. Default 5 min, jittered up to +20%. */
  relistIntervalMs?: number;
  backoff?: Backoff;
  log?: Logger;
}

export interface InformerStats {
  lists: number;
  watchRestarts: number;
  watchdogRestarts: number;
  errors: number;
}

interface WatchOutcome {
  reason: 'closed' | 'expired' | 'watchdog' | 'relist' | 'stopped' | 'error';
  error?: unknown;
}

export class Informer<T extends KubernetesObject> {
  readonly stats: InformerStats = { lists: 0, watchRestarts: 0, watchdogRestarts: 0, errors: 0 };
  private readonly store = new Map<string, T>();
  private readonly watch: Watch;
  private readonly watchdogMs: number;
  private readonly relistIntervalMs: number;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private resourceVersion = '';
  private stopped = false;
  private running: Promise<void> | undefined;
  private abortCurrent: ((outcome: WatchOutcome) => void) | undefined;
  private resolveSynced!: () => void;
  /** Resolves after the first successful list. */
  readonly synced = new Promise<void>((resolve) => (this.resolveSynced = resolve));

  constructor(private readonly options: InformerOptions<T>) {
    this.watch = new Watch(options.kubeConfig);
    this.watchdogMs = options.watchdogMs ?? 180_000;
    this.relistIntervalMs = options.relistIntervalMs ?? 300_000;
    this.backoff = options.backoff ?? new Backoff(500, 30_000);
    this.log = options.log ?? silentLogger;
    if (!(this.watchdogMs > 0) || !(this.relistIntervalMs > 0)) {
      throw new TypeError('informer intervals must be positive');
    }
  }

  /** Starts listing and watching; resolves once the cache holds the first list. */
  async start(): Promise<void> {
    if (this.running) throw new TypeError(`informer ${this.options.name} already started`);
    this.running = this.loop();
    await this.synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abortCurrent?.({ reason: 'stopped' });
    await this.running;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  /** Restarts the current watch through a relist, as the watchdog would. */
  relistNow(): void {
    this.abortCurrent?.({ reason: 'relist' });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.relist();
        this.resolveSynced();
        let outcome: WatchOutcome;
        do {
          outcome = await this.watchOnce();
          this.backoff.reset();
        } while (outcome.reason === 'closed' && !this.stopped);
        if (outcome.reason === 'error') throw outcome.error;
        if (outcome.reason === 'watchdog') this.stats.watchdogRestarts += 1;
        if (outcome.reason !== 'stopped') this.stats.watchRestarts += 1;
      } catch (error) {
        if (this.stopped) break;
        this.stats.errors += 1;
        const delay = this.backoff.next();
        this.log.warn(
          { informer: this.options.name, err: errorMessage(error), retryInMs: delay },
          'list or watch failed; retrying',
        );
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    const result = await this.options.list();
    this.stats.lists += 1;
    const seen = new Set<string>();
    for (const object of result.items) {
      const key = objectKey(object);
      seen.add(key);
      this.apply(this.store.has(key) ? 'updated' : 'added', key, object);
    }
    for (const [key, object] of [...this.store]) {
      if (!seen.has(key)) this.apply('deleted', key, object);
    }
    this.resourceVersion = result.metadata?.resourceVersion ?? '';
  }

  private apply(type: InformerEventType, key: string, object: T): void {
    const previous = this.store.get(key);
    if (type === 'deleted') {
      this.store.delete(key);
    } else {
      this.store.set(key, object);
      // A relist returns unchanged objects too; only a new resourceVersion is a change.
      if (type === 'updated' && previous?.metadata?.resourceVersion === object.metadata?.resourceVersion)
        return;
    }
    try {
      this.options.onEvent({ type, key, object });
    } catch (error) {
      this.log.error({ informer: this.options.name, key, err: errorMessage(error) }, 'event handler threw');
    }
  }

  /** Runs one watch from the current resourceVersion until it ends, expires or is aborted. */
  private watchOnce(): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve) => {
      let settled = false;
      let controller: AbortController | undefined;
      let lastEventAt = Date.now();
      const timers: NodeJS.Timeout[] = [];
      const finish = (outcome: WatchOutcome) => {
        if (settled) return;
        settled = true;
        for (const timer of timers) clearInterval(timer);
        this.abortCurrent = undefined;
        controller?.abort();
        resolve(outcome);
      };
      this.abortCurrent = finish;
      if (this.stopped) return finish({ reason: 'stopped' });

      const relistAfter = this.relistIntervalMs * (1 + Math.random() * 0.2);
      timers.push(setTimeout(() => finish({ reason: 'relist' }), relistAfter));
      timers.push(
        setInterval(
          () => {
            if (Date.now() - lastEventAt > this.watchdogMs) {
              this.log.warn(
                { informer: this.options.name, silentMs: Date.now() - lastEventAt },
                'watch went quiet',
              );
              finish({ reason: 'watchdog' });
            }
          },
          Math.max(50, Math.min(this.watchdogMs / 4, 10_000)),
        ),
      );

      const onEvent = (phase: string, object: T & { code?: number }) => {
        if (settled) return;
        lastEventAt = Date.now();
        if (phase === 'ERROR') {
          // 410 Gone: the resourceVersion is too old; a relist starts afresh.
          return finish(object.code === 410 ? { reason: 'expired' } : { reason: 'error', error: object });
        }
        const rv = object.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (phase === 'BOOKMARK') return;
        const key = objectKey(object);
        if (phase === 'ADDED') this.apply(this.store.has(key) ? 'updated' : 'added', key, object);
        else if (phase === 'MODIFIED') this.apply('updated', key, object);
        else if (phase === 'DELETED') this.apply('deleted', key, object);
      };
      const onDone = (error: unknown) => {
        if (error && !isAbort(error)) finish({ reason: 'error', error });
        else finish({ reason: 'closed' });
      };
      const params = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.ceil(relistAfter / 1000) + 30,
      };
      this.watch.watch(this.options.path, params, onEvent, onDone).then(
        (abort) => {
          controller = abort;
          if (settled) abort.abort();
        },
        (error: unknown) => finish({ reason: 'error', error }),
      );
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.abortCurrent = undefined;
        resolve();
      }, ms);
      this.abortCurrent = () => {
        clearTimeout(timer);
        this.abortCurrent = undefined;
        resolve();
      };
    });
  }
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || /aborted/i.test(error.message));
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return JSON.stringify(error)?.slice(0, 500) ?? String(error);
}
