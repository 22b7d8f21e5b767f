// The blocks a sidecar enforces: the last valid snapshot from the control plane, indexed by type
// and value for an O(1) lookup per request. A block ends at its expiry by this sidecar's clock,
// whether or not a newer snapshot arrived. Pure: the gRPC adapter is block-client.ts.
import type { Clock } from '../lib/clock.ts';
import { parseSpiffeId } from '../lib/spiffe.ts';
import { BLOCK_LIMITS, type BlockSnapshotReceived } from '../proto/load-blocks.ts';

export type BlockKind = 'principal' | 'user' | 'token';

export interface EnforcedBlock {
  readonly id: string;
  readonly type: BlockKind;
  readonly value: string;
  /** Milliseconds since the epoch, compared with this sidecar's clock. */
  readonly expiresMs: number;
}

export interface ParsedBlockSnapshot {
  readonly version: string;
  readonly blocks: readonly EnforcedBlock[];
  /** The control plane's clock when it sent the snapshot; 0 when it did not say. */
  readonly sentMs: number;
}

/** Why a snapshot was refused: one of a few words, usable as a metric label. */
export type SnapshotFault =
  'version' | 'count' | 'id' | 'duplicate-id' | 'type' | 'value' | 'expiry' | 'sent';

export type SnapshotVerdict =
  { ok: true; snapshot: ParsedBlockSnapshot } | { ok: false; fault: SnapshotFault; index?: number };

const TYPES: Readonly<Record<number, BlockKind>> = Object.freeze({ 1: 'principal', 2: 'user', 3: 'token' });
const ID = /^[A-Za-z0-9._:-]+$/;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const CONTROL = /\p{Cc}/u;
// A token id must never be a token: refuse the shape of a compact JWS.
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

function validValue(type: BlockKind, value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0) return false;
  if (value.length > BLOCK_LIMITS.maxValueLength[type] || CONTROL.test(value)) return false;
  if (type === 'principal') {
    try {
      return parseSpiffeId(value).toString() === value;
    } catch {
      return false;
    }
  }
  if (type === 'token') return PRINTABLE_ASCII.test(value) && !JWS_SHAPE.test(value);
  return true;
}

/** Checks a received snapshot whole: any bad field refuses all of it. */
export function parseBlockSnapshot(message: BlockSnapshotReceived): SnapshotVerdict {
  const { version, blocks, sentUnixMs } = message;
  if (
    typeof version !== 'string' ||
    version.length === 0 ||
    version.length > BLOCK_LIMITS.maxVersionLength ||
    !PRINTABLE_ASCII.test(version)
  ) {
    return { ok: false, fault: 'version' };
  }
  if (!Number.isSafeInteger(sentUnixMs) || sentUnixMs < 0) return { ok: false, fault: 'sent' };
  if (!Array.isArray(blocks) || blocks.length > BLOCK_LIMITS.maxBlocks) return { ok: false, fault: 'count' };
  const ids = new Set<string>();
  const parsed: EnforcedBlock[] = [];
  for (const [index, block] of blocks.entries()) {
    const { id, value, expiresUnixMs } = block;
    if (typeof id !== 'string' || id.length === 0 || id.length > BLOCK_LIMITS.maxIdLength || !ID.test(id)) {
      return { ok: false, fault: 'id', index };
    }
    if (ids.has(id)) return { ok: false, fault: 'duplicate-id', index };
    ids.add(id);
    const type = TYPES[block.type as number];
    if (!type) return { ok: false, fault: 'type', index };
    if (!validValue(type, value)) return { ok: false, fault: 'value', index };
    if (!Number.isSafeInteger(expiresUnixMs) || expiresUnixMs <= 0)
      return { ok: false, fault: 'expiry', index };
    parsed.push({ id, type, value, expiresMs: expiresUnixMs });
  }
  return { ok: true, snapshot: { version, blocks: parsed, sentMs: sentUnixMs } };
}

export class BlockSet {
  private index: Record<BlockKind, Map<string, EnforcedBlock>> = {
    principal: new Map(),
    user: new Map(),
    token: new Map(),
  };
  /** The version in force; undefined before the first snapshot. */
  version: string | undefined;
  /** When (by this sidecar's clock) the snapshot in force arrived. */
  receivedMs: number | undefined;

  constructor(private readonly clock: Clock) {}

  /** Enforces `snapshot` instead of the previous one. */
  replace(snapshot: ParsedBlockSnapshot): void {
    const index: typeof this.index = { principal: new Map(), user: new Map(), token: new Map() };
    for (const block of snapshot.blocks) {
      const held = index[block.type].get(block.value);
      // One target, two blocks: the later expiry holds.
      if (!held || held.expiresMs < block.expiresMs) index[block.type].set(block.value, block);
    }
    this.index = index;
    this.version = snapshot.version;
    this.receivedMs = this.clock.now();
  }

  /** The block in force on this target now, if any. */
  match(type: BlockKind, value: string): EnforcedBlock | undefined {
    const map = this.index[type];
    const block = map.get(value);
    if (!block) return undefined;
    if (block.expiresMs > this.clock.now()) return block;
    map.delete(value);
    return undefined;
  }

  /** How many blocks are in force now (expired ones are dropped on the way). */
  active(): number {
    const now = this.clock.now();
    let count = 0;
    for (const map of Object.values(this.index)) {
      for (const [value, block] of map) {
        if (block.expiresMs > now) count += 1;
        else map.delete(value);
      }
    }
    return count;
  }
}
