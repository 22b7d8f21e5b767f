// Child processes of the test cluster: spawned in their own process group, logged to a file
// with the last lines kept in memory for error messages, and stoppable with a bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

const TAIL_LINES = 40;

export class ManagedProcess {
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private readonly tail: string[] = [];
  private partial = '';
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    readonly logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: a terminal's Ctrl-C reaches us, and we stop it
      env: { ...process.env, NO_PROXY: '*', no_proxy: '*' },
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.on('data', (chunk: Buffer) => this.record(chunk));
    }
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.record(Buffer.from(`failed to start ${command}: ${error.message}\n`));
        this.exitCode = null;
        resolve(null);
      });
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        resolve(this.exitCode);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined && this.child.pid !== undefined;
  }

  lastLines(count = 25): string {
    const lines = this.partial ? [...this.tail, this.partial] : this.tail;
    return lines.slice(-count).join('\n');
  }

  /** SIGTERM to the process group, SIGKILL after the grace period; resolves when it has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.running) {
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  /** Synchronous last resort for process exit handlers. */
  killNow(): void {
    if (this.running) this.signal('SIGKILL');
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }

  private record(chunk: Buffer): void {
    this.log.write(chunk);
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    this.tail.push(...lines);
    if (this.tail.length > TAIL_LINES) this.tail.splice(0, this.tail.length - TAIL_LINES);
  }
}
