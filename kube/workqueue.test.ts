import { describe, expect, it } from 'vitest';
import { Backoff } from '../lib/backoff.ts';
import { WorkQueue } from './workqueue.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('coalesces a key added many times while it waits', async () => {
    const seen: string[] = [];
    const gate = deferred();
    const queue = new WorkQueue({
      name: 't',
      concurrency: 1,
      reconcile: async (key) => {
        seen.push(key);
        if (key === 'busy') await gate.promise;
      },
    });
    queue.add('busy');
    for (let i = 0; i < 5; i += 1) queue.add('a');
    queue.add('b');
    expect(queue.length).toBe(2);
    gate.resolve();
    await queue.idle();
    expect(seen).toEqual(['busy', 'a', 'b']);
  });

  it('never runs one key twice at once, and reruns it if it changed meanwhile', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const gate = deferred();
    const queue = new WorkQueue({
      name: 't',
      concurrency: 4,
      reconcile: async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        runs += 1;
        if (runs === 1) await gate.promise;
        running -= 1;
      },
    });
    queue.add('k');
    await Promise.resolve();
    queue.add('k');
    queue.add('k');
    gate.resolve();
    await queue.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('retries a failing key with backoff until it succeeds', async () => {
    let attempts = 0;
    const queue = new WorkQueue({
      name: 't',
      reconcile: () => {
        attempts += 1;
        return attempts < 3 ? Promise.reject(new Error('conflict')) : Promise.resolve();
      },
      newBackoff: () => new Backoff(1, 2, () => 1),
    });
    queue.add('k');
    await queue.idle();
    expect(attempts).toBe(3);
  });

  it('drops pending retries on shutdown', async () => {
    let attempts = 0;
    const queue = new WorkQueue({
      name: 't',
      reconcile: () => {
        attempts += 1;
        return Promise.reject(new Error('always'));
      },
      newBackoff: () => new Backoff(60_000, 60_000, () => 1),
    });
    queue.add('k');
    await new Promise((resolve) => setTimeout(resolve, 10));
    await queue.shutdown();
    queue.add('k');
    expect(attempts).toBe(1);
    expect(queue.length).toBe(0);
  });

  it('refuses a nonsense concurrency', () => {
    expect(() => new WorkQueue({ name: 't', concurrency: 0, reconcile: () => Promise.resolve() })).toThrow(
      TypeError,
    );
  });
});
