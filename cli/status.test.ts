// `lanyard status` up to the API server: arguments, kubeconfig loading and the errors that exit
// with 2. The report against a real API server is test/integration/kubectl-lanyard.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStatus } from './status.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-status-'));

function kubeconfig(name: string, server: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "' + server + '", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: not-a-real-token}}]',
      'contexts: [{name: ctx, context: {cluster: c, user: u}}]',
      'current-context: ctx',
      '',
    ].join('\n'),
  );
  return path;
}

async function status(args: string[], env: NodeJS.ProcessEnv = { HOME: dir }) {
  let out = '';
  let err = '';
  const code = await runStatus(args, { out: (t) => (out += t), err: (t) => (err += t) }, { env });
  return { code, out, err };
}

// A closed port: listen, note it, close.
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Accepts connections and never answers: what a black-holed API server looks like.
let silent: Server;
const sockets = new Set<Socket>();
beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('lanyard status', () => {
  it('prints its usage with --help', async () => {
    const { code, out } = await status(['--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: lanyard status \[options\]$/m);
    expect(out).toContain('kubectl lanyard status');
  });

  it.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['extra'], "Unexpected argument 'extra'"],
    [['--namespace', 'Not_A_Namespace'], '--namespace "Not_A_Namespace" is not a namespace name'],
    [['--timeout', '0'], '--timeout must be a whole number of seconds from 1 to 300'],
    [['--timeout', 'soon'], '--timeout must be a whole number of seconds from 1 to 300'],
  ])('refuses %j with exit code 2 and the usage', async (args, message) => {
    const { code, out, err } = await status(args);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(message);
    expect(err).toContain('Usage: lanyard status');
  });

  it('says where it looked when there is no kubeconfig', async () => {
    const { code, err } = await status([]);
    expect(code).toBe(2);
    expect(err).toBe(
      `lanyard status: no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ${join(dir, '.kube', 'config')}\n`,
    );
    expect((await status(['--kubeconfig', join(dir, 'nope')])).err).toContain(
      `kubeconfig ${join(dir, 'nope')} not found`,
    );
    expect((await status([], { KUBECONFIG: join(dir, 'nope') })).err).toContain(
      `no file of KUBECONFIG=${join(dir, 'nope')} exists`,
    );
  });

  it('refuses an unknown context', async () => {
    const path = kubeconfig('ctx', 'https://127.0.0.1:1');
    const { code, err } = await status(['--kubeconfig', path, '--context', 'other']);
    expect(code).toBe(2);
    expect(err).toContain('kubeconfig has no context "other"');
  });

  it('exits 2 naming the server when the API server cannot be reached', async () => {
    const server = `https://127.0.0.1:${await closedPort()}`;
    const { code, out, err } = await status([], { KUBECONFIG: kubeconfig('refused', server) });
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(new RegExp(`^lanyard status: cannot reach the API server ${server}: .*ECONNREFUSED`));
  });

  it('gives up on an API server that never answers, after --timeout', async () => {
    const { port } = silent.address() as { port: number };
    const path = kubeconfig('silent', `https://127.0.0.1:${port}`);
    const { code, err } = await status(['--kubeconfig', path, '--timeout', '1']);
    expect(code).toBe(2);
    expect(err).toMatch(
      /^lanyard status: cannot read .*: no answer from https:\/\/127\.0\.0\.1:\d+ within 1s\n$/,
    );
  });
});
