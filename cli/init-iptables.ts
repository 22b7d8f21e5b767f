// `lanyard init-iptables`: installs the pod's traffic redirect (the injected init container runs
// it). The rules come from lib/iptables.ts; this adapter applies each address family in one
// `iptables-restore` transaction. Exit 0 applied (or printed), 1 the kernel refused, 2 bad flags.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isLanyardError } from '../lib/errors.ts';
import { parseInterceptFlags, restoreInput, type AddressFamily } from '../lib/iptables.ts';
import type { CliIo } from './run.ts';

export const initIptablesUsage = `Usage: lanyard init-iptables --proxy-uid=<uid> [options]

Redirects the pod's TCP traffic through the Lanyard sidecar (nat table, IPv4 and, when the
kernel has IPv6, IPv6). Needs NET_ADMIN and NET_RAW in the pod's network namespace.

Options:
  --proxy-uid <uid>               UID of the sidecar; its traffic is never redirected (required)
  --inbound-proxy-port <port>     Default 15006
  --outbound-proxy-port <port>    Default 15001
  --inbound-ports <ports|*>       App ports sent to the inbound proxy, comma-separated, or *
  --exclude-inbound-ports <ports> Ports that reach their listener directly
  --exclude-outbound-ports <ports> Destination ports that bypass the sidecar
  --exclude-outbound-cidrs <cidrs> Destination CIDRs that bypass the sidecar
  --dry-run                       Print the iptables-restore input instead of applying it
`;

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with optional stdin; the seam the tests replace. */
export type Exec = (command: string, args: readonly string[], input?: string) => Promise<CommandResult>;

const TIMEOUT_MS = 30_000;

export const execCommand: Exec = (command, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A command that exits before reading all its input fails by its exit code, not by EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });

/** The kernel lists IPv6 interfaces here only when IPv6 is enabled. */
function ipv6Enabled(): boolean {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

const TOOLS: Record<AddressFamily, { save: string; restore: string }> = {
  ipv4: { save: 'iptables-save', restore: 'iptables-restore' },
  ipv6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

export interface InitIptablesDeps {
  exec?: Exec;
  ipv6?: () => boolean;
}

async function run(exec: Exec, command: string, args: string[], input?: string): Promise<string> {
  let result: CommandResult;
  try {
    result = await exec(command, args, input);
  } catch (error) {
    throw new Error(`${command} could not run: ${(error as Error).message}`, { cause: error });
  }
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

export async function runInitIptables(
  args: string[],
  io: CliIo,
  deps: InitIptablesDeps = {},
): Promise<number> {
  let options;
  let dryRun: boolean;
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        'proxy-uid': { type: 'string' },
        'inbound-proxy-port': { type: 'string' },
        'outbound-proxy-port': { type: 'string' },
        'inbound-ports': { type: 'string' },
        'exclude-inbound-ports': { type: 'string' },
        'exclude-outbound-ports': { type: 'string' },
        'exclude-outbound-cidrs': { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(initIptablesUsage);
      return 0;
    }
    dryRun = values['dry-run'] ?? false;
    options = parseInterceptFlags(values);
  } catch (error) {
    if (
      isLanyardError(error, 'ERR_CONFIG_INVALID') ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      io.err(`lanyard init-iptables: ${(error as Error).message}\n\n${initIptablesUsage}`);
      return 2;
    }
    throw error;
  }

  if (dryRun) {
    for (const family of ['ipv4', 'ipv6'] as const) {
      io.out(`# ${TOOLS[family].restore} --noflush\n${restoreInput(options, family)}`);
    }
    return 0;
  }

  const exec = deps.exec ?? execCommand;
  const families: AddressFamily[] = (deps.ipv6 ?? ipv6Enabled)() ? ['ipv4', 'ipv6'] : ['ipv4'];
  const applied: { family: AddressFamily; saved: string }[] = [];
  try {
    for (const family of families) {
      const saved = await run(exec, TOOLS[family].save, ['-t', 'nat']);
      await run(exec, TOOLS[family].restore, ['--noflush', '-w', '10'], restoreInput(options, family, saved));
      applied.push({ family, saved });
    }
  } catch (error) {
    // One family applied and the other refused: put the first back as it was, so a failed
    // init container leaves the pod's tables as it found them (the kubelet retries it).
    for (const { family, saved } of applied) {
      const previous = saved.includes('*nat') ? saved : '*nat\nCOMMIT\n';
      await run(exec, TOOLS[family].restore, ['-T', 'nat', '-w', '10'], previous).catch((rollback: unknown) =>
        io.err(`lanyard init-iptables: rollback of ${family} failed: ${(rollback as Error).message}\n`),
      );
    }
    io.err(`lanyard init-iptables: ${(error as Error).message}\n`);
    return 1;
  }
  io.out(`lanyard init-iptables: redirect installed (${families.join(', ')})\n`);
  return 0;
}
