// Blocks shared by every control-plane replica through AuthBlock objects in the control plane's
// namespace. Each replica mirrors the objects into its own BlockList with an informer (what its
// sidecars are pushed); a block made here is put into the local list at once, so the local push
// does not wait for the watch, and written to its object (created, or extended to the later
// expiry by an update guarded by resourceVersion, retried on conflict). Every replica drops
// expired blocks from its list at expiry; the leader deletes expired objects, a bounded batch at
// a time, each delete guarded so that a concurrent extension survives.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Backoff } from '../../lib/backoff.ts';
import type { Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { apiStatus } from '../../kube/api-errors.ts';
import { Informer, type InformerEvent } from '../../kube/informer.ts';
import { isLanyardError } from '../../lib/errors.ts';
import { AUTHBLOCK, blockName, blockObject, parseBlockObject, type AuthBlockObject } from './block-object.ts';
import type { Block, BlockList, BlockTarget } from './blocks.ts';
import { monitorError } from './errors.ts';

export interface BlockStoreOptions {
  kubeConfig: KubeConfig;
  /** The control plane's namespace: where the AuthBlock objects live. */
  namespace: string;
  /** The local list that sidecars are pushed; this store keeps it equal to the objects. */
  blocks: BlockList;
  clock: Clock;
  /** Only the leader deletes expired objects. */
  isLeader: () => boolean;
  registry?: Registry;
  log?: Logger;
  /** How often the leader looks for expired objects. Default 10 s. */
  collectIntervalMs?: number;
  /** Most expired objects the leader deletes per round. Default 100. */
  collectBatch?: number;
  /** Attempts of one object write (conflicts, unreachable API server). Default 5. */
  writeAttempts?: number;
  backoff?: () => Backoff;
}

function storeMetrics(registry: Registry | undefined, blocks: BlockList) {
  const registers = registry ? [registry] : [];
  const ignored = new Counter({
    name: 'lanyard_monitor_block_objects_ignored_total',
    help: 'AuthBlock objects not enforced: "invalid" (bad target, name, reason or expiry) or "limit" (past the block cap).',
    labelNames: ['reason'] as const,
    registers,
  });
  const writes = new Counter({
    name: 'lanyard_monitor_block_writes_total',
    help: 'AuthBlock writes of this replica by result: created, extended, unchanged (the object already expired later) or failed (after retries).',
    labelNames: ['result'] as const,
    registers,
  });
  const collected = new Counter({
    name: 'lanyard_monitor_block_objects_deleted_total',
    help: 'Expired AuthBlock objects deleted by the leader.',
    registers,
  });
  new Gauge({
    name: 'lanyard_monitor_blocks',
    help: 'Active blocks in this replica’s block list.',
    registers,
    collect() {
      this.set(blocks.list().length);
    },
  });
  for (const reason of ['invalid', 'limit']) ignored.inc({ reason }, 0);
  for (const result of ['created', 'extended', 'unchanged', 'failed']) writes.inc({ result }, 0);
  return { ignored, writes, collected };
}

export type WriteResult = 'created' | 'extended' | 'unchanged';

export class KubeBlockStore {
  private readonly api: CustomObjectsApi;
  private readonly informer: Informer<AuthBlockObject>;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof storeMetrics>;
  /** Writes in flight by object name, chained so that one name has one writer at a time. */
  private readonly pending = new Map<string, Promise<void>>();
  private collectTimer: NodeJS.Timeout | undefined;
  private collecting: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly options: BlockStoreOptions) {
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.log = options.log ?? silentLogger;
    this.metrics = storeMetrics(options.registry, options.blocks);
    const { group, version, plural } = AUTHBLOCK;
    const namespace = options.namespace;
    this.informer = new Informer<AuthBlockObject>({
      name: 'authblocks',
      kubeConfig: options.kubeConfig,
      path: `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      list: () =>
        this.api.listNamespacedCustomObject({ group, version, namespace, plural }) as Promise<{
          items: AuthBlockObject[];
          metadata?: { resourceVersion?: string };
        }>,
      onEvent: (event) => this.mirror(event),
      log: this.log,
    });
  }

  /** Resolves once the local list holds the first list of objects. */
  get synced(): Promise<void> {
    return this.informer.synced;
  }

  /** Starts mirroring and collecting; resolves once synced. */
  async start(): Promise<void> {
    const interval = this.options.collectIntervalMs ?? 10_000;
    this.collectTimer = setInterval(() => {
      if (this.options.isLeader() && !this.collecting) {
        this.collecting = this.collectExpired()
          .catch((error: unknown) => {
            this.log.warn({ err: String(error) }, 'deleting expired blocks failed');
            return 0;
          })
          .finally(() => (this.collecting = undefined));
      }
    }, interval);
    this.collectTimer.unref();
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.collectTimer);
    await this.informer.stop();
    await this.idle();
    await this.collecting;
  }

  /** Resolves when no write is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
  }

  /**
   * Blocks a target for `ttlMs` mesh-wide: in the local list now, in its AuthBlock object soon.
   * A target already blocked keeps its block, with the later of the two expiries. Throws
   * ERR_MONITOR_BLOCK_INVALID or ERR_MONITOR_BLOCK_LIMIT, changing nothing. The same contract
   * as BlockList.add, so the responder takes either.
   */
  add(target: BlockTarget, ttlMs: number, reason: string, by: Block['by']): Block {
    const { minMs, maxMs } = this.options.blocks.ttlBounds;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < minMs || ttlMs > maxMs) {
      throw monitorError('ERR_MONITOR_BLOCK_INVALID', { ttlMs });
    }
    const id = blockName(target);
    const now = this.options.clock.now();
    const existing = this.options.blocks.get(id);
    const block: Block = existing
      ? { ...existing, expiresMs: Math.max(existing.expiresMs, now + ttlMs) }
      : { id, type: target.type, value: target.value, createdMs: now, expiresMs: now + ttlMs, reason, by };
    this.options.blocks.upsert(block);
    this.write(block);
    return block;
  }

  /** Deletes one batch of expired objects (the leader's job); returns how many went. */
  async collectExpired(): Promise<number> {
    const now = this.options.clock.now();
    const expired = this.informer
      .list()
      .filter((object) => Date.parse(String(object.spec?.expiresAt)) <= now)
      .slice(0, this.options.collectBatch ?? 100);
    let deleted = 0;
    for (const object of expired) {
      if (this.stopped) break;
      const name = object.metadata?.name ?? '';
      try {
        await this.api.deleteNamespacedCustomObject({
          ...this.path(),
          name,
          // A replica that extended the block meanwhile changed the resourceVersion: keep it.
          body: { preconditions: { resourceVersion: object.metadata?.resourceVersion } },
        });
        deleted += 1;
        this.metrics.collected.inc();
      } catch (error) {
        const status = apiStatus(error);
        if (status !== 404 && status !== 409) throw error;
      }
    }
    if (deleted > 0) this.log.info({ deleted }, 'deleted expired blocks');
    return deleted;
  }

  private path() {
    const { group, version, plural } = AUTHBLOCK;
    return { group, version, plural, namespace: this.options.namespace };
  }

  private maxTtlMs(): number {
    return this.options.blocks.ttlBounds.maxMs;
  }

  /** Applies one object (from the watch, or a write's answer) to the local list. */
  private apply(object: AuthBlockObject, fromWatch: boolean): void {
    const parsed = parseBlockObject(object, this.options.clock.now(), this.maxTtlMs());
    if (parsed.kind === 'invalid') {
      this.metrics.ignored.inc({ reason: 'invalid' });
      this.log.warn({ block: parsed.name.slice(0, 253), problem: parsed.problem }, 'AuthBlock ignored');
      this.options.blocks.remove(parsed.name);
      return;
    }
    if (parsed.kind === 'expired') {
      if (!(fromWatch && this.pending.has(parsed.name))) this.options.blocks.remove(parsed.name);
      return;
    }
    const block = parsed.block;
    // The watch may still show the object as it was before this replica's write lands.
    const local = this.options.blocks.get(block.id);
    if (fromWatch && this.pending.has(block.id) && local && local.expiresMs > block.expiresMs) return;
    try {
      this.options.blocks.upsert(block);
    } catch (error) {
      if (!isLanyardError(error)) throw error;
      const reason = error.code === 'ERR_MONITOR_BLOCK_LIMIT' ? 'limit' : 'invalid';
      this.metrics.ignored.inc({ reason });
      this.log.warn({ block: block.id, code: error.code }, 'AuthBlock ignored');
    }
  }

  private mirror(event: InformerEvent<AuthBlockObject>): void {
    if (event.type !== 'deleted') return this.apply(event.object, true);
    const name = event.object.metadata?.name ?? '';
    // A write in flight will recreate it (a detection after the lift); its answer is applied.
    if (!this.pending.has(name)) this.options.blocks.remove(name);
  }

  private write(block: Block): void {
    const previous = this.pending.get(block.id) ?? Promise.resolve();
    const next = previous
      .then(() => this.writeWithRetries(block))
      .finally(() => {
        if (this.pending.get(block.id) === next) this.pending.delete(block.id);
      });
    this.pending.set(block.id, next);
  }

  private async writeWithRetries(block: Block): Promise<void> {
    const attempts = this.options.writeAttempts ?? 5;
    const backoff = this.options.backoff?.() ?? new Backoff(200, 5000);
    let last: unknown;
    for (let attempt = 0; attempt < attempts && !this.stopped; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, backoff.next()));
      try {
        const [result, object] = await this.writeOnce(block);
        this.metrics.writes.inc({ result });
        this.apply(object, false);
        return;
      } catch (error) {
        last = error;
      }
    }
    this.metrics.writes.inc({ result: 'failed' });
    // Still enforced here until it expires, but no other replica sees it.
    this.log.error(
      { block: block.id, status: apiStatus(last), err: String(last).slice(0, 300) },
      'could not write an AuthBlock; the block holds on this replica only',
    );
  }

  private async writeOnce(block: Block): Promise<[WriteResult, AuthBlockObject]> {
    return writeBlockObject(
      this.api,
      this.options.namespace,
      block,
      block.expiresMs,
      block.reason,
      block.by,
      this.options.clock.now(),
    );
  }
}

/**
 * One create-or-extend of a target's AuthBlock: creates it, or moves its expiry to `expiresMs`
 * when that is later, by an update guarded by resourceVersion. Throws the API error as it is;
 * on a conflict (409: another writer came first) the caller retries from a fresh read.
 */
export async function writeBlockObject(
  api: CustomObjectsApi,
  namespace: string,
  target: BlockTarget,
  expiresMs: number,
  reason: string,
  by: Block['by'],
  nowMs: number,
  options?: Parameters<CustomObjectsApi['getNamespacedCustomObject']>[1],
): Promise<[WriteResult, AuthBlockObject]> {
  const { group, version, plural } = AUTHBLOCK;
  const path = { group, version, plural, namespace };
  const name = blockName(target);
  let current: AuthBlockObject | undefined;
  try {
    current = (await api.getNamespacedCustomObject({ ...path, name }, options)) as AuthBlockObject;
  } catch (error) {
    if (apiStatus(error) !== 404) throw error;
  }
  const desired = blockObject(target, expiresMs, reason, by, namespace);
  if (!current) {
    const created = (await api.createNamespacedCustomObject(
      { ...path, body: desired },
      options,
    )) as AuthBlockObject;
    return ['created', created];
  }
  const currentExpiry = Date.parse(String(current.spec?.expiresAt));
  if (currentExpiry >= expiresMs) return ['unchanged', current];
  // An expired object the leader has not deleted yet is a new block: it takes the new reason.
  const revived = !(currentExpiry > nowMs);
  const spec = revived ? desired.spec : { ...current.spec, expiresAt: desired.spec.expiresAt };
  const replaced = (await api.replaceNamespacedCustomObject(
    // metadata.resourceVersion makes this a guarded update: 409 if another writer came first.
    { ...path, name, body: { ...current, spec } },
    options,
  )) as AuthBlockObject;
  return ['extended', replaced];
}
