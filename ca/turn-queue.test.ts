import { describe, expect, it } from 'vitest';
import { TurnQueue } from './turn-queue.ts';

const drained = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('TurnQueue', () => {
  it('runs every job once, in the order pushed, including jobs pushed by jobs', async () => {
    const queue = new TurnQueue(0);
    const ran: string[] = [];
    queue.push(() => ran.push('a'));
    queue.push(() => {
      ran.push('b');
      queue.push(() => ran.push('d'));
    });
    queue.push(() => ran.push('c'));
    expect(queue.size).toBe(3);
    while (queue.size > 0) await drained();
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
  });

  it('lets what a job scheduled (a response write) run before the next job, once its turn is over', async () => {
    const queue = new TurnQueue(0);
    const ran: string[] = [];
    for (const job of ['1', '2', '3']) {
      queue.push(() => {
        ran.push(`job ${job}`);
        setImmediate(() => ran.push(`write ${job}`));
      });
    }
    while (queue.size > 0) await drained();
    await drained();
    expect(ran).toEqual(['job 1', 'write 1', 'job 2', 'write 2', 'job 3', 'write 3']);
  });

  it('runs jobs back to back within its budget', async () => {
    const queue = new TurnQueue(60_000);
    const ran: string[] = [];
    for (const job of ['1', '2']) {
      queue.push(() => {
        ran.push(`job ${job}`);
        setImmediate(() => ran.push(`write ${job}`));
      });
    }
    while (queue.size > 0) await drained();
    await drained();
    expect(ran).toEqual(['job 1', 'job 2', 'write 1', 'write 2']);
  });

  it('refuses a negative budget', () => {
    expect(() => new TurnQueue(-1)).toThrow(TypeError);
  });
});
