// `lanyard dev`: the whole mesh on one machine, with a live view of every decision.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDevMesh, type DevMesh } from '../dev/mesh.ts';
import { runScenario, type ScenarioMemory, type StepResult } from '../dev/scenario.ts';
import { formatSessionEvent } from '../dev/sessions.ts';
import type { DecisionRecord } from '../sidecar/app-forwarder.ts';
import type { CliIo } from './run.ts';

export const devUsage = `Usage: lanyard dev [--policies <dir>] [--once] [--rounds <n>] [--interval <seconds>]

Runs the whole mesh on this machine: the built-in identity provider (demo users sign in
through a scripted OpenID Connect flow, bob with password + TOTP), the control plane (CA and
policy stream, AuthPolicies from a folder), three demo services (web → orders → payments) each
behind its own sidecar, and a traffic driver. Every decision shows as it happens. Edit a
policy file while it runs and the next calls follow it. Ctrl-C stops everything.

Options:
  --policies <dir>      AuthPolicy folder to use (default: a copy of examples/dev naming the
                        IdP's issuer; its path is printed so you can edit it)
  --once                Run the scenario once, print a summary, exit 1 if an expectation failed
  --rounds <n>          Stop after n rounds of the scenario (default: until Ctrl-C)
  --interval <seconds>  Pause between rounds (default 5)
`;

const short = (id: string | undefined) =>
  id ? id.replace(/^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\//, '$1/') : 'plaintext';

/** `user` names the token's subject; the IdP's subjects are user IDs, shown by username when known. */
export function formatDecision(
  workload: string,
  record: DecisionRecord,
  usernameOf: (sub: string | undefined) => string | undefined = () => undefined,
): string {
  const rule = record.policy ? `${record.policy} ${record.rule ?? ''}`.trim() : record.reason;
  return [
    `  ${workload.padEnd(8)}`,
    `← ${short(record.peer).padEnd(13)}`,
    (usernameOf(record.user) ?? record.user ?? '-').padEnd(8),
    `${record.method} ${record.path}`.padEnd(30),
    `${record.decision} ${record.status}`.padEnd(10),
    rule,
  ].join(' ');
}

/** Made for this run and gone with it: printed once, so that a person can sign in too. */
function formatDemoCredentials(mesh: DevMesh): string {
  const lines = [...mesh.idp.users.values()].map((user) => {
    const role = user.roles.length ? `role ${user.roles.join(', ')}` : 'no role';
    const totp = user.totpSecret ? `; TOTP secret ${user.totpSecret}` : '';
    return `  ${user.username.padEnd(8)} password ${user.password}  (${role}${totp})\n`;
  });
  return `demo credentials for this run only (never use them anywhere else):\n${lines.join('')}`;
}

function formatStep(result: StepResult): string {
  if (result.skipped) return `- skipped: ${result.name} (the limit refills once a minute)`;
  const mark = result.ok ? '✓' : '✗';
  const detail = result.ok
    ? ''
    : ` (expected ${result.expected}${result.detail ? `; ${result.detail}` : ''})`;
  return `${mark} ${result.status} ${result.name}${detail}`;
}

export async function runDev(args: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        policies: { type: 'string' },
        once: { type: 'boolean' },
        rounds: { type: 'string' },
        interval: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.err(`lanyard dev: ${(error as Error).message}\n\n${devUsage}`);
    return 2;
  }
  if (values.help) {
    io.out(devUsage);
    return 0;
  }
  const rounds = values.once ? 1 : values.rounds === undefined ? Infinity : Number(values.rounds);
  const intervalMs = Number(values.interval ?? 5) * 1000;
  if (!(rounds >= 1) || !Number.isFinite(intervalMs) || intervalMs < 0) {
    io.err(`lanyard dev: --rounds must be at least 1 and --interval a number of seconds\n`);
    return 2;
  }

  if (values.policies !== undefined && !statSync(values.policies, { throwIfNoEntry: false })?.isDirectory()) {
    io.err(`lanyard dev: --policies ${values.policies} is not a folder of AuthPolicy YAML files\n`);
    return 2;
  }
  const stateDir = mkdtempSync(join(tmpdir(), 'lanyard-dev-'));
  let mesh: DevMesh | undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    io.out(
      'lanyard dev: starting the control plane, three services with sidecars, and the traffic driver…\n',
    );
    mesh = await startDevMesh({
      stateDir,
      ...(values.policies ? { policiesDir: values.policies } : {}),
      onDecision: (workload, record) => {
        if (!values.once) io.out(`${formatDecision(workload, record, (sub) => mesh?.idp.usernameOf(sub))}\n`);
      },
      onSession: (event) => io.out(`${formatSessionEvent(event)}\n`),
    });
    for (const message of mesh.controlPlane.policyMessages()) io.err(`policy: ${message}\n`);
    io.out(
      `mesh ready: control plane ${mesh.controlPlane.address}; policies in ${mesh.policiesDir}` +
        `${values.once ? '' : ' (edit them: the next calls follow)'}\n` +
        `identity provider: ${mesh.idp.issuer} (issuer; the sidecars fetch ${mesh.idp.jwksUri}), ` +
        `client ${mesh.idp.clientId}\n${formatDemoCredentials(mesh)}`,
    );
    if (!values.once) {
      // Started before any traffic: its counts begin when it does.
      const dashboard = await mesh.controlPlane.startDashboard({ port: 0 });
      io.out(`dashboard: ${dashboard.url} (login token for this run: ${dashboard.token})\n`);
    }

    let failed = 0;
    let passed = 0;
    let skipped = 0;
    const memory: ScenarioMemory = {};
    for (let round = 1; round <= rounds && !stopping; round += 1) {
      if (!values.once) io.out(`\nround ${round}\n`);
      const results = await runScenario(
        mesh,
        (result) => {
          if (values.once || !result.ok) io.out(`${formatStep(result)}\n`);
        },
        memory,
      );
      skipped += results.filter((result) => result.skipped).length;
      failed += results.filter((result) => !result.ok).length;
      passed += results.filter((result) => result.ok && !result.skipped).length;
      if (round < rounds && !stopping) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, intervalMs);
        });
      }
    }
    io.out(
      `\n${passed} passed, ${failed} failed` +
        `${skipped ? `, ${skipped} skipped (bob's refund limit refills once a minute)` : ''}\n`,
    );
    return failed === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await mesh?.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
