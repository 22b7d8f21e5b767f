// Real processes for end-to-end tests: the `lanyard` CLI or a TypeScript helper script, with
// their output kept (JSON log lines parsed) and a clean stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LANYARD = fileURLToPath(new URL('../../bin/lanyard.js', import.meta.url));

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** The stdout lines that are JSON objects (pino log lines), parsed. */
  logLines(): Record<string, unknown>[];
  /** Resolves with the first stdout line for which `match` is true. */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

function run(args: string[], env: NodeJS.ProcessEnv): RunningProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const lines: string[] = [];
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    partial += chunk.toString();
    const complete = partial.split('\n');
    partial = complete.pop()!;
    for (const line of complete) {
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    logLines: () =>
      lines.flatMap((line): Record<string, unknown>[] => {
        try {
          const parsed: unknown = JSON.parse(line);
          return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
    line: (match, timeoutMs = 60_000) => {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching line; output:\n${output}`)), timeoutMs);
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => reject(new Error(`process exited (${code}) first; output:\n${output}`)));
      });
    },
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `lanyard <args>` from this checkout, as a user runs it. */
export function runLanyard(args: string[], env: NodeJS.ProcessEnv): RunningProcess {
  return run([LANYARD, ...args], env);
}

/** A TypeScript helper script (through tsx). */
export function runScript(script: URL, env: NodeJS.ProcessEnv): RunningProcess {
  return run(['--import', 'tsx', fileURLToPath(script)], env);
}
