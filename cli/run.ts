import { lanyardVersion } from '../lib/version.ts';
import { runCheck } from './check.ts';
import { runPolicyTest } from './policy-test.ts';
import { runController, runSidecar } from './processes.ts';
import { runDev } from './dev.ts';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

interface Command {
  summary: string;
  run(args: string[], io: CliIo): Promise<number>;
}

const commands: Record<string, Command> = {
  dev: {
    summary: 'Run the whole mesh on this machine with demo services and live decisions',
    run: runDev,
  },
  check: {
    summary: 'Explain how AuthPolicies decide one request (offline)',
    run: runCheck,
  },
  test: {
    summary: 'Run table-driven AuthPolicy test cases',
    run: runPolicyTest,
  },
  controller: {
    summary: 'Run the control plane (CA, policy stream, AuthPolicy controller) in a cluster',
    run: runController,
  },
  sidecar: {
    summary: 'Run the sidecar proxy (configured by LANYARD_* environment variables)',
    run: runSidecar,
  },
  version: {
    summary: 'Print the Lanyard version',
    run: (_args, io) => {
      io.out(`lanyard ${lanyardVersion()} (node ${process.version})\n`);
      return Promise.resolve(0);
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return [
    'lanyard: workload identity and authentication for service meshes',
    '',
    'Usage: lanyard <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     Show this help',
    '  -v, --version  Print the version',
    '',
  ].join('\n');
}

/** Runs the CLI and returns the process exit code; never calls process.exit itself. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    io.out(usage());
    return 0;
  }
  if (first === '-v' || first === '--version') return commands.version!.run([], io);
  const command = commands[first];
  if (!command) {
    io.err(`lanyard: unknown command "${first}"\n\n${usage()}`);
    return 2;
  }
  return command.run(rest, io);
}
