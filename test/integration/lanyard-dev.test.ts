// `lanyard dev` as a user runs it: a real process, the built-in IdP on https, real sidecars,
// real mTLS on loopback.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startDevMesh } from '../../dev/mesh.ts';
import { runScenario, type ScenarioMemory } from '../../dev/scenario.ts';
import type { SessionEvent } from '../../dev/sessions.ts';

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
  it('--once signs the demo users in at the built-in IdP, runs the scenario through three sidecars, and exits 0', async () => {
    const run = runLanyard(['dev', '--once']);
    const code = await run.exited;
    const out = run.output();
    expect(out).toMatch(
      /^identity provider: (https:\/\/127\.0\.0\.1:\d+) \(issuer; the sidecars fetch \1\/jwks\), client demo-shop$/m,
    );
    expect(out).toMatch(/^demo credentials for this run only \(never use them anywhere else\):$/m);
    expect(out).toMatch(/^ {2}bob {6}password \S+ {2}\(role manager; TOTP secret [A-Z2-7]{32}\)$/m);

    // Bob's password-only session (from before he enrolled TOTP) and his sign-in with TOTP: one
    // user, two strengths of authentication, as the IdP issued them.
    const bobPassword =
      /^idp: bob signed in with password: sub ([0-9a-f]{8})…, amr pwd, access token expires/m.exec(out);
    const bobMfa = /^idp: bob signed in with password \+ TOTP: sub ([0-9a-f]{8})…, amr pwd otp mfa,/m.exec(
      out,
    );
    expect(bobPassword?.[1]).toBeDefined();
    expect(bobMfa?.[1]).toBe(bobPassword?.[1]);
    expect(out).toMatch(/^idp: alice signed in with password: sub [0-9a-f]{8}…, amr pwd,/m);

    expect(out).toMatch(/✓ 200 alice reads an order: web → orders → payments/);
    expect(out).toMatch(/✓ 403 alice \(viewer\) tries a refund: denied/);
    expect(out).toMatch(/✓ 401 bob \(manager, password-only token\) tries a refund: step-up to MFA/);
    expect(out).toMatch(/✓ 200 bob after TOTP \(amr pwd otp mfa\) refunds \(3 of 3 a minute\)/);
    expect(out).toMatch(/✓ 429 bob refunds a fourth time/);
    expect(out).toMatch(/✓ 200 alice's refresh token is rotated at the IdP/);
    expect(out).toMatch(/✓ 400 the spent refresh token is replayed: refused/);
    expect(out).toMatch(/^15 passed, 0 failed$/m);
    // Never a token in the output: no JWT, no refresh token.
    expect(out).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/);
    expect(out).not.toMatch(/lrt_/);
    expect(code).toBe(0);
  });

  it('enforces amr on the MFA route with tokens the IdP issued and the sidecars verified against its JWKS', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'lanyard-dev-test-'));
    const mesh = await startDevMesh({ stateDir });
    try {
      // The policies name the IdP and its JWKS URI: no key is inlined, so every verified token
      // below was checked with keys the sidecars fetched from the IdP.
      const orders = readFileSync(join(mesh.policiesDir, 'orders.yaml'), 'utf8');
      expect(orders).toContain(`issuer: ${mesh.idp.issuer}\n`);
      expect(orders).toContain(`jwksUri: ${mesh.idp.issuer}/jwks\n`);
      expect(orders).not.toMatch(/jwks:/);

      const passwordOnly = await mesh.sessions.tokens('bob-password');
      expect(passwordOnly.amr).toEqual(['pwd']);
      const refused = await mesh.call('POST', '/shop/orders/5/refund', passwordOnly.accessToken);
      expect(refused.status).toBe(401);
      expect(String(refused.headers['www-authenticate'])).toMatch(
        /^Bearer .*error="insufficient_user_authentication"/,
      );

      const withMfa = await mesh.sessions.tokens('bob-mfa');
      expect(withMfa.amr).toEqual(['pwd', 'otp', 'mfa']);
      expect((await mesh.call('POST', '/shop/orders/5/refund', withMfa.accessToken)).status).toBe(200);
      expect(
        (await mesh.call('POST', '/shop/orders/5/refund', await mesh.sessions.accessToken('alice'))).status,
      ).toBe(403);

      // The IdP's own records: each sign-in went through its login (and MFA) endpoints.
      const audit = await mesh.idp.audit();
      const seen = audit.map(
        (record) => `${record.event} ${record.username} ${record.outcome} ${record.reason}`,
      );
      expect(seen).toContain('login bob success password');
      expect(seen).toContain('login bob success password_ok_mfa_pending');
      expect(seen).toContain('mfa bob success otp');
      expect(seen).toContain('login alice success password');
      expect(audit.every((record) => record.source === '127.0.0.1')).toBe(true);
    } finally {
      await mesh.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('runs round after round: tokens reused, alice signed in again after her family was revoked, the burst waits for the limit', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'lanyard-dev-test-'));
    const events: SessionEvent[] = [];
    const mesh = await startDevMesh({ stateDir, onSession: (event) => events.push(event) });
    try {
      const memory: ScenarioMemory = {};
      const first = await runScenario(mesh, undefined, memory);
      expect(first.filter((result) => !result.ok)).toEqual([]);
      expect(first.filter((result) => result.skipped)).toEqual([]);

      const second = await runScenario(mesh, undefined, memory);
      expect(second.filter((result) => !result.ok)).toEqual([]);
      expect(second.filter((result) => result.skipped).map((result) => result.name)).toEqual([
        'bob after TOTP (amr pwd otp mfa) refunds (1 of 3 a minute)',
        'bob after TOTP (amr pwd otp mfa) refunds (2 of 3 a minute)',
        'bob after TOTP (amr pwd otp mfa) refunds (3 of 3 a minute)',
        'bob refunds a fourth time within the minute: rate limited',
      ]);
      const signIns = (persona: string) =>
        events.filter((event) => event.kind === 'signed in' && event.persona === persona).length;
      expect(signIns('alice')).toBe(2);
      expect(signIns('mallory')).toBe(1);
      expect(signIns('bob-password')).toBe(1);
      expect(signIns('bob-mfa')).toBe(1);
    } finally {
      await mesh.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
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
