// Coarse deadlines for many connections on one interval timer: a request head's deadline, an
// idle pooled connection's. Moving such a deadline is then a field write, where a timer per
// socket would be created and cleared for every request.

/** How often a deadline of `timeoutMs` is checked: it fires at most a quarter late, within 10 ms to 1 s. */
export function sweepPeriodMs(timeoutMs: number): number {
  return Math.min(1000, Math.max(10, Math.floor(timeoutMs / 4)));
}

/** Calls `sweep(now)` every `periodMs` while started; unref'd, so it never keeps a process alive. */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly periodMs: number,
    private readonly sweep: (now: number) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(performance.now()), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
