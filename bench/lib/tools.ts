// Shared by the benchmarks: external tools (checked, or built from the Go module proxy into a
// cache outside the repository), process CPU and memory from /proc, percentiles, results files.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CACHE = join(homedir(), '.cache', 'lanyard', 'bench');
/** Where results go: bench/results, or LANYARD_BENCH_RESULTS (smoke runs write elsewhere). */
export const RESULTS = process.env.LANYARD_BENCH_RESULTS ?? new URL('../results/', import.meta.url).pathname;
/**
 * `--smoke`: a run of seconds that only shows the benchmark still works end to end (CI runs it,
 * test/integration/bench-smoke.test.ts). Its figures mean nothing.
 */
export const SMOKE = process.argv.includes('--smoke');

/** The absolute path of `command` on PATH (or in /usr/sbin), or undefined. */
export function which(command: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** Exits with how to install `command` when it is missing. */
export function requireTool(command: string, install: string): string {
  const path = which(command);
  if (path) return path;
  console.error(`bench: ${command} is not installed. Install it with: ${install}`);
  process.exit(2);
}

/**
 * A Go program built from the Go module proxy into ~/.cache/lanyard/bench/<name>-<version>/bin,
 * reused when present. `viaTool` is for modules the proxy lists without versions: they must be
 * added as a tool of a throwaway module (`go get -tool pkg@version`) and then installed.
 */
export function goProgram(options: {
  name: string;
  version: string;
  pkg: string;
  binary: string;
  viaTool?: boolean;
}): { binary: string; moduleDir: string } {
  const root = join(CACHE, `${options.name}-${options.version}`);
  const bin = join(root, 'bin');
  const moduleDir = join(root, 'mod');
  const binary = join(bin, options.binary);
  if (existsSync(binary)) return { binary, moduleDir };
  requireTool('go', 'the Go toolchain (https://go.dev/doc/install)');
  mkdirSync(moduleDir, { recursive: true });
  const env = { ...process.env, GOBIN: bin };
  const go = (args: string[], cwd: string) => {
    console.error(`bench: go ${args.join(' ')} (in ${cwd})`);
    const result = spawnSync('go', args, { cwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new Error(`go ${args.join(' ')} failed (${result.status})`);
  };
  console.error(`bench: building ${options.pkg}@${options.version} into ${bin} (once; minutes)`);
  if (options.viaTool) {
    if (!existsSync(join(moduleDir, 'go.mod'))) go(['mod', 'init', `bench-${options.name}`], moduleDir);
    go(['get', '-tool', `${options.pkg}@${options.version}`], moduleDir);
    go(['install', options.pkg], moduleDir);
  } else {
    go(['install', `${options.pkg}@${options.version}`], moduleDir);
  }
  return { binary, moduleDir };
}

/** The Go module cache, where a built module's sources (and .proto files) are. */
export function goModCache(): string {
  return execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU seconds a process has used so far (its own threads; not its children). */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** User and kernel CPU seconds from a `stat` file of /proc (a process's or one thread's). */
function statTimes(path: string): { user: number; system: number } {
  const stat = readFileSync(path, 'utf8');
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/** CPU seconds a process has used so far in user space and in the kernel (its system calls). */
export function cpuTimes(pid: number): { user: number; system: number } {
  return statTimes(`/proc/${pid}/stat`);
}

/** CPU seconds a process's main thread has used so far: for Node.js, the event loop's. */
export function mainThreadCpuSeconds(pid: number): number {
  const { user, system } = statTimes(`/proc/${pid}/task/${pid}/stat`);
  return user + system;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The direct children of a process (e.g. nginx's worker under its master). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Samples the peak RSS of some processes every 200 ms until stopped. */
export function rssSampler(pids: number[]): { stop(): number[] } {
  const peaks = pids.map((pid) => rssBytes(pid));
  const timer = setInterval(() => {
    pids.forEach((pid, i) => {
      try {
        peaks[i] = Math.max(peaks[i]!, rssBytes(pid));
      } catch {
        // gone: keep the last peak
      }
    });
  }, 200);
  return {
    stop: () => {
      clearInterval(timer);
      return peaks;
    },
  };
}

/** Runs this process on one core from now on (its threads and later children). */
export function pinSelf(core: number): void {
  spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
}

/** The p-th percentile (0-100) of already sorted values (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** What the machine is, for the report. */
export function machine(): Record<string, string> {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  // Not nproc: the benches pin themselves, and nproc counts only the cores allowed.
  const cores = String((readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length);
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  return {
    cpu,
    cores,
    memory: `${Math.round(memKb / 1024 / 1024)} GiB`,
    node: process.version,
    loadAverageAtStart: load,
  };
}

/** Writes bench/results/<name>.json (the latest run of one benchmark). */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
