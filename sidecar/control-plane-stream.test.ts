import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Backoff } from '../lib/backoff.ts';
import { StreamKeeper } from './control-plane-stream.ts';

class FakeStream extends EventEmitter {
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
  }
}

function keeper() {
  const streams: FakeStream[] = [];
  const closedChannels: number[] = [];
  const losses: [string, number][] = [];
  const kept = new StreamKeeper<FakeStream>({
    open: () => {
      const stream = new FakeStream();
      const index = streams.push(stream) - 1;
      return { stream, closeChannel: () => closedChannels.push(index) };
    },
    opened: () => undefined,
    lost: (reason, retryInMs) => losses.push([reason, retryInMs]),
    backoff: new Backoff(100, 1000, () => 1),
  });
  return { kept, streams, closedChannels, losses };
}

afterEach(() => vi.useRealTimers());

describe('StreamKeeper', () => {
  it('opens again after a loss, with backoff, and ignores what an old stream says', () => {
    vi.useFakeTimers();
    const { kept, streams, closedChannels, losses } = keeper();
    kept.start();
    kept.start(); // already started: no second stream
    expect(streams).toHaveLength(1);
    streams[0]!.emit('error', new Error('unavailable'));
    expect(losses).toEqual([['unavailable', 100]]);
    expect(streams[0]!.cancelled).toBe(true);
    expect(closedChannels).toEqual([0]);
    streams[0]!.emit('end'); // the old stream again: nothing more
    expect(losses).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(streams).toHaveLength(2);
    expect(kept.isCurrent(streams[1]!)).toBe(true);
    expect(kept.isCurrent(streams[0]!)).toBe(false);
    kept.stop();
  });

  it('reopens at once on demand, dropping a pending retry, so only one stream is ever open', () => {
    vi.useFakeTimers();
    const { kept, streams } = keeper();
    kept.start();
    streams[0]!.emit('end');
    kept.reopen(); // an SVID rotation while a retry waits
    expect(streams).toHaveLength(2);
    vi.advanceTimersByTime(10_000);
    expect(streams).toHaveLength(2);
    kept.reopen();
    expect(streams).toHaveLength(3);
    expect(streams[1]!.cancelled).toBe(true);
    expect(streams.filter((stream) => kept.isCurrent(stream))).toEqual([streams[2]]);
    kept.stop();
  });

  it('opens nothing after stop, even when a stream breaks later or a reopen is asked for', () => {
    vi.useFakeTimers();
    const { kept, streams, losses } = keeper();
    kept.start();
    kept.stop();
    expect(streams[0]!.cancelled).toBe(true);
    streams[0]!.emit('error', new Error('late'));
    kept.reopen();
    vi.advanceTimersByTime(10_000);
    expect(streams).toHaveLength(1);
    expect(losses).toEqual([]);
  });
});
