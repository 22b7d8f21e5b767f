/**
 * Runs jobs in order, in event-loop turns of at most about `budgetMs` of work each. The requests
 * of one socket read arrive together; signing all of them in that one turn would hold back every
 * response (HTTP/2 writes leave between turns) until the last is signed, and leave the client
 * idle meanwhile. Turns of bounded length let each response leave soon after it is made and the
 * next requests be read. A job must not throw: it answers its own call, success or failure.
 */
export class TurnQueue {
  private jobs: (() => void)[] = [];
  private next = 0;
  private scheduled = false;

  constructor(private readonly budgetMs = 5) {
    if (!(budgetMs >= 0)) throw new TypeError('budgetMs must not be negative');
  }

  /** Jobs waiting for a turn. */
  get size(): number {
    return this.jobs.length - this.next;
  }

  push(job: () => void): void {
    this.jobs.push(job);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.turn);
    }
  }

  private readonly turn = (): void => {
    const end = performance.now() + this.budgetMs;
    // At least one job per turn, however small the budget.
    do {
      const job = this.jobs[this.next]!;
      this.jobs[this.next++] = undefined as never;
      job();
    } while (this.next < this.jobs.length && performance.now() < end);
    if (this.next < this.jobs.length) {
      // A new immediate runs in the next turn, after the pending writes and reads.
      setImmediate(this.turn);
      return;
    }
    this.jobs = [];
    this.next = 0;
    this.scheduled = false;
  };
}
