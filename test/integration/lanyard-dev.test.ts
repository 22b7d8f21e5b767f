// `lanyard dev` as a user runs it: a real process, real sidecars, real mTLS on loopback.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startDevMesh } from '../../dev/mesh.ts';

const lanyard = fileURLToPath(new URL('../../bin/lanyard.js', import.meta.url));

function runLanyard(args: string[]) {
  const child = spawn(process.execPath, [lanyard, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('lanyard dev', () => {
  it('--once runs the scenario through three sidecars and exits 0 when every expectation holds', async () => {
    const run = runLanyard(['dev', '--once']);
    const code = await run.exited;
    expect(run.output()).toMatch(/✓ 200 alice reads an order: web → orders → payments/);
    expect(run.output()).toMatch(/✓ 401 bob \(manager, password only\) tries a refund: step-up to MFA/);
    expect(run.output()).toMatch(/✓ 429 bob refunds a fourth time/);
    expect(run.output()).toMatch(/^10 passed, 0 failed$/m);
    expect(code).toBe(0);
  });

  it('shows decisions live and stops everything on Ctrl-C', async () => {
    const run = runLanyard(['dev', '--interval', '1']);
    const deadline = Date.now() + 60_000;
    while (!/web\s+← demo\/driver/.test(run.output())) {
      if (Date.now() > deadline) throw new Error(`no live decisions:\n${run.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(run.output()).toMatch(
      /orders\s+← demo\/web\s+alice\s+GET \/orders\/17\s+ALLOW 200\s+demo\/orders reads-by-role/,
    );
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
  });

  it('follows an edit of a policy file while it runs', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'lanyard-dev-test-'));
    const mesh = await startDevMesh({ stateDir });
    try {
      const token = await mesh.sessions.accessToken('mallory');
      expect((await mesh.call('POST', '/shop/orders/1/refund', token)).status).toBe(403);

      // A half-written file is reported, and the last good set stays in force: mallory is still
      // refused (were the orders policy dropped, the mesh default would let her through).
      const file = join(mesh.policiesDir, 'orders.yaml');
      const original = readFileSync(file, 'utf8');
      writeFileSync(file, `${original}\n  rules: [unclosed\n`);
      const brokenAt = Date.now();
      while (!mesh.controlPlane.policyMessages().some((m) => /last good set/.test(m))) {
        if (Date.now() - brokenAt > 10_000) throw new Error('the broken file was not reported');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(mesh.controlPlane.policyMessages().join('\n')).toMatch(/orders\.yaml.*not valid YAML/);
      expect((await mesh.call('POST', '/shop/orders/1/refund', token)).status).toBe(403);

      // Let any caller through web refund: the orders policy now allows refunds without a role.
      writeFileSync(file, original.replace(/ {6}when:\n {8}- role: manager\n {6}requireMfa: \{\}\n/, ''));
      const edited = Date.now();
      let status = 0;
      while (status !== 200 && Date.now() - edited < 10_000) {
        status = (await mesh.call('POST', '/shop/orders/1/refund', token)).status;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(200);
      process.stderr.write(`lanyard dev: a policy file edit was enforced after ${Date.now() - edited} ms\n`);
    } finally {
      await mesh.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
