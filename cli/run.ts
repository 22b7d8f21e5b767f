import { lanyardVersion } from '../lib/version.ts';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

interface Command {
  summary: string;
  run(args: string[], io: CliIo): Promise<number>;
}

// Each command loads its modules when it runs: `lanyard check` needs no gRPC or Kubernetes
// client, and `--help` needs nothing at all.
const commands: Record<string, Command> = {
  dev: {
    summary: 'Run the whole mesh on this machine with demo services and live decisions',
    run: async (args, io) => (await import('./dev.ts')).runDev(args, io),
  },
  check: {
    summary: 'Explain how AuthPolicies decide one request (offline)',
    run: async (args, io) => (await import('./check.ts')).runCheck(args, io),
  },
  test: {
    summary: 'Run table-driven AuthPolicy test cases',
    run: async (args, io) => (await import('./policy-test.ts')).runPolicyTest(args, io),
  },
  status: {
    summary: 'Report the health of the control plane in a cluster (also: kubectl lanyard status)',
    run: async (args, io) => (await import('./status.ts')).runStatus(args, io),
  },
  blocks: {
    summary: 'List, add and lift mesh-wide blocks in a cluster (also: kubectl lanyard blocks)',
    run: async (args, io) => (await import('./blocks.ts')).runBlocks(args, io),
  },
  controller: {
    summary: 'Run the control plane (CA, policy stream, AuthPolicy controller) in a cluster',
    run: async (args, io) => (await import('./processes.ts')).runController(args, io),
  },
  sidecar: {
    summary: 'Run the sidecar proxy (configured by LANYARD_* environment variables)',
    run: async (args, io) => (await import('./sidecar-process.ts')).runSidecar(args, io),
  },
  inject: {
    summary: 'Add the Lanyard sidecar to the pods of Kubernetes manifests (offline)',
    run: async (args, io) => (await import('./inject.ts')).runInject(args, io),
  },
  'init-iptables': {
    summary: "Redirect the pod's traffic through the sidecar (the injected init container)",
    run: async (args, io) => (await import('./init-iptables.ts')).runInitIptables(args, io),
  },
  idp: {
    summary: 'Run the built-in OpenID Connect identity provider; manage its users and clients',
    run: async (args, io) => (await import('./idp.ts')).runIdp(args, io),
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
