// Sliding windows over event time with bounded memory: at most `maxKeys` keys (the least
// recently touched is evicted first, and counted), and per key at most `maxPerKey` entries
// (the oldest go first, so a count is then a lower bound). Event time, not arrival time,
// drives the window, so that a recorded stream replays to the same result.

export interface WindowBounds {
  windowMs: number;
  /** Most keys tracked at once. */
  maxKeys: number;
  /** Most timestamps (or distinct values) kept per key. */
  maxPerKey: number;
}

function checkBounds(bounds: WindowBounds): void {
  for (const [name, value] of Object.entries(bounds)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  }
}

/** Inserts `value` into the sorted array `list`: events from many sidecars arrive a little out of order. */
function insertSorted(list: number[], value: number): void {
  let i = list.length;
  while (i > 0 && list[i - 1]! > value) i -= 1;
  list.splice(i, 0, value);
}

abstract class KeyedWindow<State> {
  protected readonly keys = new Map<string, State>();
  /** Keys evicted because `maxKeys` was reached. */
  evicted = 0;

  constructor(protected readonly bounds: WindowBounds) {
    checkBounds(bounds);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  get size(): number {
    return this.keys.size;
  }

  protected touch(key: string, create: () => State): State {
    let state = this.keys.get(key);
    if (state) this.keys.delete(key);
    else {
      state = create();
      if (this.keys.size >= this.bounds.maxKeys) {
        const oldest = this.keys.keys().next().value as string;
        this.keys.delete(oldest);
        this.evicted += 1;
      }
    }
    this.keys.set(key, state); // most recently touched last
    return state;
  }

  /** Forgets keys with nothing left in the window ending at `now`. */
  abstract prune(now: number): void;
}

export interface WindowCount {
  count: number;
  firstMs: number;
  lastMs: number;
}

/** Counts events per key within the window. */
export class SlidingCounter extends KeyedWindow<number[]> {
  /** Records an event of `key` at `timeMs`; returns the count in the window ending at the latest event. */
  add(key: string, timeMs: number): WindowCount {
    const times = this.touch(key, () => []);
    insertSorted(times, timeMs);
    const latest = times[times.length - 1]!;
    let drop = 0;
    while (drop < times.length && times[drop]! <= latest - this.bounds.windowMs) drop += 1;
    drop = Math.max(drop, times.length - this.bounds.maxPerKey);
    if (drop > 0) times.splice(0, drop);
    return { count: times.length, firstMs: times[0]!, lastMs: latest };
  }

  prune(now: number): void {
    for (const [key, times] of this.keys) {
      if (times[times.length - 1]! <= now - this.bounds.windowMs) this.keys.delete(key);
    }
  }
}

export interface DistinctCount extends WindowCount {
  /** The distinct values in the window, oldest first. */
  values: string[];
}

/** Counts distinct values per key within the window (e.g. source addresses per token). */
export class DistinctCounter extends KeyedWindow<Map<string, { first: number; last: number }>> {
  add(key: string, value: string, timeMs: number): DistinctCount {
    const seen = this.touch(key, () => new Map());
    const entry = seen.get(value);
    if (entry) {
      seen.delete(value);
      seen.set(value, { first: Math.min(entry.first, timeMs), last: Math.max(entry.last, timeMs) });
    } else seen.set(value, { first: timeMs, last: timeMs });
    let latest = timeMs;
    for (const { last } of seen.values()) latest = Math.max(latest, last);
    for (const [v, { last }] of seen) if (last <= latest - this.bounds.windowMs) seen.delete(v);
    while (seen.size > this.bounds.maxPerKey) seen.delete(seen.keys().next().value as string);
    let first = latest;
    for (const { first: f } of seen.values()) first = Math.min(first, f);
    const values = [...seen.entries()].sort((a, b) => a[1].first - b[1].first).map(([v]) => v);
    return {
      count: seen.size,
      firstMs: Math.max(first, latest - this.bounds.windowMs),
      lastMs: latest,
      values,
    };
  }

  prune(now: number): void {
    for (const [key, seen] of this.keys) {
      for (const [v, { last }] of seen) if (last <= now - this.bounds.windowMs) seen.delete(v);
      if (seen.size === 0) this.keys.delete(key);
    }
  }
}
