// The expiring block list: temporary denies of a principal, a user subject or a token id, each
// with a TTL, listed and lifted by operators, and exported as a JSON snapshot for sidecars.
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../lib/clock.ts';
import { parseSpiffeId } from '../../lib/spiffe.ts';
import { monitorError } from './errors.ts';

export type BlockType = 'principal' | 'user' | 'token';

export interface BlockTarget {
  type: BlockType;
  value: string;
}

export interface Block extends BlockTarget {
  id: string;
  createdMs: number;
  expiresMs: number;
  /** Why: a detection kind ("denial-spike") or an operator's note; bounded, no control characters. */
  reason: string;
  by: 'detector' | 'operator';
}

export interface BlockSnapshot {
  /** A digest of the active blocks: equal lists, equal versions. */
  version: string;
  blocks: Block[];
}

export interface BlockListOptions {
  clock: Clock;
  /** Bounds on a block's TTL. Default 1 s .. 7 days. */
  minTtlMs?: number;
  maxTtlMs?: number;
  /** Most active blocks. Default 10 000. */
  maxBlocks?: number;
}

const CONTROL = /\p{Cc}/u;
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
const MAX_REASON = 256;
const ID_SHAPE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Replicas' clocks differ: a mirrored expiry may exceed maxTtlMs from here by this much. */
const MIRROR_SKEW_MS = 60_000;

/** Whether a target names a principal (a canonical SPIFFE ID), a user subject or a token id (not a whole JWT). */
export function validTarget(target: BlockTarget): boolean {
  const { type, value } = target;
  if (typeof value !== 'string' || value.length === 0 || CONTROL.test(value)) return false;
  if (type === 'principal') {
    try {
      return parseSpiffeId(value).toString() === value;
    } catch {
      return false;
    }
  }
  if (type === 'user') return value.length <= 256;
  if (type === 'token') return value.length <= 128 && /^[\x21-\x7e]+$/.test(value) && !JWS_SHAPE.test(value);
  return false;
}

export class BlockList {
  private readonly blocks = new Map<string, Block>();
  private readonly listeners = new Set<() => void>();
  private readonly minTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly maxBlocks: number;

  constructor(private readonly options: BlockListOptions) {
    this.minTtlMs = options.minTtlMs ?? 1000;
    this.maxTtlMs = options.maxTtlMs ?? 7 * 24 * 3600_000;
    this.maxBlocks = options.maxBlocks ?? 10_000;
    if (!(this.minTtlMs > 0 && this.maxTtlMs >= this.minTtlMs && this.maxBlocks > 0)) {
      throw new TypeError('block list needs 0 < minTtlMs <= maxTtlMs and maxBlocks > 0');
    }
  }

  /**
   * Blocks a target for `ttlMs`. A target already blocked keeps its block, with the later of
   * the two expiries. Throws ERR_MONITOR_BLOCK_INVALID or ERR_MONITOR_BLOCK_LIMIT, changing nothing.
   */
  add(target: BlockTarget, ttlMs: number, reason: string, by: Block['by']): Block {
    if (!validTarget(target)) throw monitorError('ERR_MONITOR_BLOCK_INVALID', { type: target.type });
    if (!Number.isSafeInteger(ttlMs) || ttlMs < this.minTtlMs || ttlMs > this.maxTtlMs) {
      throw monitorError('ERR_MONITOR_BLOCK_INVALID', { ttlMs });
    }
    if (typeof reason !== 'string' || reason.length > MAX_REASON || CONTROL.test(reason)) {
      throw monitorError('ERR_MONITOR_BLOCK_INVALID', { field: 'reason' });
    }
    const now = this.options.clock.now();
    this.expire(now);
    const existing = this.find(target);
    if (existing) {
      if (now + ttlMs > existing.expiresMs) {
        existing.expiresMs = now + ttlMs;
        this.changed();
      }
      return { ...existing };
    }
    if (this.blocks.size >= this.maxBlocks)
      throw monitorError('ERR_MONITOR_BLOCK_LIMIT', { max: this.maxBlocks });
    const block: Block = {
      id: randomBytes(8).toString('hex'),
      type: target.type,
      value: target.value,
      createdMs: now,
      expiresMs: now + ttlMs,
      reason,
      by,
    };
    this.blocks.set(block.id, block);
    this.changed();
    return { ...block };
  }

  /** The bounds on a block's TTL, as configured. */
  get ttlBounds(): { minMs: number; maxMs: number } {
    return { minMs: this.minTtlMs, maxMs: this.maxTtlMs };
  }

  /** The active block with this id. */
  get(id: string): Block | undefined {
    const block = this.blocks.get(id);
    return block && block.expiresMs > this.options.clock.now() ? { ...block } : undefined;
  }

  /**
   * Sets the block with `block.id` to exactly `block` (a mirror of a block kept elsewhere, e.g.
   * an AuthBlock object): adds it, or replaces the one with that id. A block already expired
   * removes that id instead. Returns whether the id is now active. Throws
   * ERR_MONITOR_BLOCK_INVALID (bad id, target, reason, origin, or an expiry beyond maxTtlMs from
   * now) or ERR_MONITOR_BLOCK_LIMIT (a new id past maxBlocks), changing nothing.
   */
  upsert(block: Block): boolean {
    const now = this.options.clock.now();
    if (typeof block.id !== 'string' || !ID_SHAPE.test(block.id)) {
      throw monitorError('ERR_MONITOR_BLOCK_INVALID', { field: 'id' });
    }
    if (!validTarget(block)) throw monitorError('ERR_MONITOR_BLOCK_INVALID', { type: block.type });
    if (typeof block.reason !== 'string' || block.reason.length > MAX_REASON || CONTROL.test(block.reason)) {
      throw monitorError('ERR_MONITOR_BLOCK_INVALID', { field: 'reason' });
    }
    if (block.by !== 'detector' && block.by !== 'operator') {
      throw monitorError('ERR_MONITOR_BLOCK_INVALID', { field: 'by' });
    }
    if (
      !Number.isSafeInteger(block.expiresMs) ||
      !Number.isSafeInteger(block.createdMs) ||
      block.expiresMs > now + this.maxTtlMs + MIRROR_SKEW_MS
    ) {
      throw monitorError('ERR_MONITOR_BLOCK_INVALID', { field: 'expiresMs' });
    }
    this.expire(now);
    if (block.expiresMs <= now) {
      this.remove(block.id);
      return false;
    }
    const existing = this.blocks.get(block.id);
    if (!existing && this.blocks.size >= this.maxBlocks) {
      throw monitorError('ERR_MONITOR_BLOCK_LIMIT', { max: this.maxBlocks });
    }
    const next: Block = {
      id: block.id,
      type: block.type,
      value: block.value,
      createdMs: block.createdMs,
      expiresMs: block.expiresMs,
      reason: block.reason,
      by: block.by,
    };
    if (existing && JSON.stringify(existing) === JSON.stringify(next)) return true;
    this.blocks.set(block.id, next);
    this.changed();
    return true;
  }

  /** Removes a block by id, quietly when none has it (a mirror's delete). Returns whether one went. */
  remove(id: string): boolean {
    if (!this.blocks.delete(id)) return false;
    this.changed();
    return true;
  }

  /** Lifts a block by id; throws ERR_MONITOR_BLOCK_NOT_FOUND when no active block has it. */
  lift(id: string): Block {
    this.expire(this.options.clock.now());
    const block = this.blocks.get(id);
    if (!block) throw monitorError('ERR_MONITOR_BLOCK_NOT_FOUND', { id: String(id).slice(0, 64) });
    this.blocks.delete(id);
    this.changed();
    return { ...block };
  }

  /** The active blocks, soonest expiry first. */
  list(): Block[] {
    this.expire(this.options.clock.now());
    return [...this.blocks.values()]
      .map((b) => ({ ...b }))
      .sort((a, b) => a.expiresMs - b.expiresMs || (a.id < b.id ? -1 : 1));
  }

  snapshot(): BlockSnapshot {
    const blocks = this.list().sort((a, b) => (a.id < b.id ? -1 : 1));
    const version = createHash('sha256').update(JSON.stringify(blocks)).digest('hex').slice(0, 16);
    return { version, blocks };
  }

  /** When the next block expires, so that a timer can publish the change; undefined when none. */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const block of this.blocks.values())
      if (next === undefined || block.expiresMs < next) next = block.expiresMs;
    return next;
  }

  /** Drops expired blocks; notifies listeners when any went. Call from a timer at nextExpiry(). */
  expire(now: number): void {
    let any = false;
    for (const [id, block] of this.blocks) {
      if (block.expiresMs <= now) {
        this.blocks.delete(id);
        any = true;
      }
    }
    if (any) this.changed();
  }

  /** Called after every change (add, extend, lift, expiry). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private find(target: BlockTarget): Block | undefined {
    for (const block of this.blocks.values()) {
      if (block.type === target.type && block.value === target.value) return block;
    }
    return undefined;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
