// The sidecar end to end with real processes: a local-mode control plane (CA + policy stream
// from a folder of AuthPolicies, identities by join tokens) and three `lanyard sidecar`
// processes, in front of three apps (a → b → c) and an API outside the mesh. No Kubernetes:
// this is what `lanyard dev` runs, but as separate processes, so the CA can be stopped.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlaneProcessConfig, ControlPlaneReady } from '../helpers/control-plane-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { runLanyard, runScript, type RunningProcess } from '../helpers/mesh-processes.ts';
import { freePorts } from '../helpers/ports.ts';

const NAMESPACE = 'e2e';
const ISSUER = 'https://login.e2e.test';
const idOf = (name: string) => `spiffe://cluster.local/ns/${NAMESPACE}/sa/${name}`;
const APPS = ['a', 'b', 'c'] as const;
type AppName = (typeof APPS)[number];
// The CA's shortest allowed X.509-SVID lifetime (ca/ttl.ts bounds it below by one minute); two
// minutes leave room for the backoff of a renewal that starts during the outage.
const SVID_TTL_MS = 120_000;

const scratch = mkdtempSync(join(tmpdir(), 'lanyard-sidecar-e2e-'));
const policiesDir = join(scratch, 'policies');
let controlPlaneConfig: ControlPlaneProcessConfig;
let controlPlane: RunningProcess;
let ready: ControlPlaneReady;
const sidecars = new Map<
  AppName,
  { process: RunningProcess; ports: { inbound: number; outbound: number; admin: number } }
>();
const servers: Server[] = [];
let signUser: (claims: Record<string, unknown>) => Promise<string>;
const appPorts = {} as Record<AppName | 'external', number>;

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}
const seen: Record<AppName | 'external', Seen[]> = { a: [], b: [], c: [], external: [] };

interface Answer {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

function send(port: number, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, timeout: 20_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** An app that, like any app behind a mesh, calls the next hop through its sidecar's outbound port. */
function startApp(
  name: AppName | 'external',
  next?: (path: string) => { host: string; path: string } | undefined,
) {
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen[name].push({ path, headers: req.headers });
    const hop = next?.(path);
    if (!hop) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ app: name, peer: req.headers['x-lanyard-peer-id'] ?? null }));
      return;
    }
    const outbound = sidecars.get(name as AppName)!.ports.outbound;
    const authorization = req.headers.authorization;
    send(outbound, hop.path, { host: hop.host, ...(authorization ? { authorization } : {}) }).then(
      (answer) => {
        const relayed = answer.headers['www-authenticate'];
        res.writeHead(answer.status, {
          'content-type': 'application/json',
          ...(typeof relayed === 'string' ? { 'www-authenticate': relayed } : {}),
        });
        res.end(answer.body);
      },
      (error: Error) => res.writeHead(502).end(error.message),
    );
  });
  servers.push(server);
  return new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

function policyFiles(jwks: { keys: JWK[] }): Record<string, string> {
  const userTokens = `
  userTokens:
    - issuer: ${ISSUER}
      jwks: '${JSON.stringify(jwks)}'
      audiences: [e2e]`;
  return {
    'b.yaml': `apiVersion: lanyard.dev/v1alpha1
kind: AuthPolicy
metadata: {name: b, namespace: ${NAMESPACE}}
spec:
  selector: {matchLabels: {app: b}}${userTokens}
  action: ALLOW
  rules:
    - name: a-calls-b
      from: [{principals: ['${idOf('a')}']}]
      to: [{paths: ['/chain', '/hello', '/admin', '/admin/{**}']}]
    - name: a-secure-with-mfa
      from: [{principals: ['${idOf('a')}']}]
      to: [{paths: ['/secure']}]
      requireMfa: {}
---
apiVersion: lanyard.dev/v1alpha1
kind: AuthPolicy
metadata: {name: b-no-admin, namespace: ${NAMESPACE}}
spec:
  selector: {matchLabels: {app: b}}
  action: DENY
  rules:
    - name: nobody-reaches-admin
      to: [{paths: ['/admin', '/admin/{**}']}]
`,
    'c.yaml': `apiVersion: lanyard.dev/v1alpha1
kind: AuthPolicy
metadata: {name: c, namespace: ${NAMESPACE}}
spec:
  selector: {matchLabels: {app: c}}${userTokens}
  action: ALLOW
  rules:
    - name: b-calls-c
      from: [{principals: ['${idOf('b')}']}]
      to: [{paths: ['/chain']}]
`,
  };
}

async function startControlPlane(): Promise<ControlPlaneReady> {
  controlPlane = runScript(new URL('../helpers/control-plane-process.ts', import.meta.url), {
    ...process.env,
    LANYARD_TEST_CONTROL_PLANE: JSON.stringify(controlPlaneConfig),
  });
  return JSON.parse(await controlPlane.line((line) => line.startsWith('{"address"'))) as ControlPlaneReady;
}

async function metric(app: AppName, name: string): Promise<number | undefined> {
  const text = (await send(sidecars.get(app)!.ports.admin, '/metrics', {})).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** When the sidecar's current SVID expires (ms since the epoch), from its own metrics. */
async function svidExpiresAt(app: AppName): Promise<number> {
  const seconds = await metric(app, 'lanyard_sidecar_svid_expiry_seconds');
  if (seconds === undefined) throw new Error(`${app} reports no SVID expiry`);
  return Date.now() + seconds * 1000;
}

/** The user's call into app a, which goes on to b (and, for /chain, c) through the sidecars. */
function viaA(path: string, token?: string): Promise<Answer> {
  return send(appPorts.a, `/call/b.e2e${path}`, token ? { authorization: `Bearer ${token}` } : {});
}

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'e2e-1', alg: 'ES256', use: 'sig' };
  signUser = (claims) =>
    new SignJWT({ aud: 'e2e', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'e2e-1' })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  mkdirSync(policiesDir);
  for (const [file, text] of Object.entries(policyFiles({ keys: [jwk] })))
    writeFileSync(join(policiesDir, file), text);

  // Apps first (their ports go into the sidecars' configuration), sidecars' ports fixed ahead.
  appPorts.a = await startApp('a', (path) => {
    const [, call, host, ...rest] = path.split('/');
    return call === 'call' && host ? { host, path: `/${rest.join('/')}` } : undefined;
  });
  appPorts.b = await startApp('b', (path) =>
    path === '/chain' ? { host: 'c.e2e', path: '/chain' } : undefined,
  );
  appPorts.c = await startApp('c');
  appPorts.external = await startApp('external');

  const [cpPort, httpPort, ...ports] = await freePorts(2 + 3 * APPS.length);
  controlPlaneConfig = {
    stateDir: scratch,
    policiesDir,
    workloads: APPS.map((name) => ({
      name,
      namespace: NAMESPACE,
      serviceAccount: name,
      labels: { app: name },
    })),
    port: cpPort!,
    httpPort: httpPort!,
    svidTtlMs: SVID_TTL_MS,
  };
  ready = await startControlPlane();
  const rootsFile = join(scratch, 'roots.pem');
  writeFileSync(rootsFile, ready.rootsPem);

  const portsOf = (i: number) => ({
    inbound: ports[3 * i]!,
    outbound: ports[3 * i + 1]!,
    admin: ports[3 * i + 2]!,
  });
  const routes: Record<AppName, object> = {
    a: {
      'b.e2e:80': { address: '127.0.0.1', port: portsOf(1).inbound, spiffeId: idOf('b') },
      'ext.e2e:80': {
        outOfMesh: {
          audience: 'ext-api',
          host: '127.0.0.1',
          port: appPorts.external,
          transport: 'http-loopback',
        },
      },
    },
    b: { 'c.e2e:80': { address: '127.0.0.1', port: portsOf(2).inbound, spiffeId: idOf('c') } },
    c: {},
  };
  for (const [i, name] of APPS.entries()) {
    const routesFile = join(scratch, `${name}-routes.json`);
    writeFileSync(routesFile, JSON.stringify(routes[name]));
    const sidecarPorts = portsOf(i);
    const process = runLanyard(['sidecar'], {
      ...globalThis.process.env,
      LANYARD_CONTROL_PLANE: ready.address,
      LANYARD_CONTROL_PLANE_ID: ready.spiffeId,
      LANYARD_ROOTS_FILE: rootsFile,
      LANYARD_POD_NAME: name,
      LANYARD_JOIN_TOKEN: ready.joinTokens[name],
      LANYARD_APP_PORT: String(appPorts[name]),
      LANYARD_INBOUND_PORT: String(sidecarPorts.inbound),
      LANYARD_OUTBOUND_PORT: String(sidecarPorts.outbound),
      LANYARD_ADMIN_PORT: String(sidecarPorts.admin),
      LANYARD_BIND_ADDRESS: '127.0.0.1',
      LANYARD_ROUTES_FILE: routesFile,
    });
    sidecars.set(name, { process, ports: sidecarPorts });
  }
  for (const name of APPS) {
    const { process, ports } = sidecars.get(name)!;
    await eventually(
      async () => (await send(ports.admin, '/ready', {})).status === 200,
      `sidecar ${name} ready`,
      90_000,
      200,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its output:\n${process.output()}`);
    });
  }
}, 180_000);

afterAll(async () => {
  await Promise.all([...sidecars.values()].map(({ process }) => process.stop()));
  await controlPlane?.stop();
  for (const server of servers) server.close();
  rmSync(scratch, { recursive: true, force: true });
});

const decisions = (app: AppName) =>
  sidecars
    .get(app)!
    .process.logLines()
    .filter((line) => line.msg === 'decision');

describe('three apps behind real sidecar processes', () => {
  it('lets an allowed call through two hops: each app sees its caller, and c the same Authorization', async () => {
    const token = await signUser({ sub: 'alice', amr: ['pwd'] });
    const answer = await viaA('/chain', token);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ app: 'c', peer: idOf('b') });
    expect(seen.b.at(-1)!.headers['x-lanyard-peer-id']).toBe(idOf('a'));
    expect(seen.c.at(-1)!.headers['x-lanyard-peer-id']).toBe(idOf('b'));
    expect(seen.c.at(-1)!.headers.authorization).toBe(`Bearer ${token}`);
    expect(seen.c.at(-1)!.headers['x-lanyard-user']).toBe('alice');
  });

  it('refuses a denied call with 403, and the decision log names the policy and rule, never the token', async () => {
    const token = await signUser({ sub: 'alice', amr: ['pwd'] });
    const before = seen.b.length;
    const answer = await viaA('/admin/users', token);
    expect(answer.status).toBe(403);
    expect(seen.b.length).toBe(before);
    const line = await eventually(
      () => decisions('b').find((entry) => entry.path === '/admin/users'),
      'the deny decision in b’s log',
    );
    expect(line).toMatchObject({
      decision: 'DENY',
      status: 403,
      rule: 'nobody-reaches-admin',
      peer: idOf('a'),
    });
    expect(String(line.policy)).toContain('b-no-admin');
    for (const name of APPS) expect(sidecars.get(name)!.process.output()).not.toContain(token);
  });

  it('answers a token without MFA on an MFA-only route with a 401 step-up challenge', async () => {
    const token = await signUser({ sub: 'bob', amr: ['pwd'] });
    const answer = await viaA('/secure', token);
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer .*error="insufficient_user_authentication"/);
    const withMfa = await viaA('/secure', await signUser({ sub: 'bob', amr: ['pwd', 'otp', 'mfa'] }));
    expect(withMfa.status).toBe(200);
  });

  it('gives an out-of-mesh call a JWT-SVID for the route audience that verifies against the CA’s JWKS', async () => {
    const answer = await send(appPorts.a, '/call/ext.e2e/quotes', {});
    expect(answer.status).toBe(200);
    const authorization = seen.external.at(-1)!.headers.authorization ?? '';
    expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const token = authorization.slice('Bearer '.length);
    const httpPort = Number(ready.httpAddress.split(':')[1]);
    const discovery = JSON.parse((await send(httpPort, '/.well-known/openid-configuration', {})).body) as {
      issuer: string;
    };
    const jwks = JSON.parse((await send(httpPort, '/keys', {})).body) as { keys: JWK[] };
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      audience: 'ext-api',
      issuer: discovery.issuer,
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe(idOf('a'));
    // A second call reuses the cached token: one mint per audience, not per request.
    await send(appPorts.a, '/call/ext.e2e/quotes', {});
    expect(seen.external.at(-1)!.headers.authorization).toBe(authorization);
    expect(sidecars.get('a')!.process.output()).not.toContain(token);
  });

  it(
    'keeps serving while the CA is down past half the SVID lifetime, and renews once it is back',
    { timeout: 300_000 },
    async () => {
      const token = await signUser({ sub: 'alice', amr: ['pwd'] });
      const held = Object.fromEntries(
        await Promise.all(APPS.map(async (name) => [name, await svidExpiresAt(name)] as const)),
      );
      await controlPlane.stop();

      // Past every sidecar's renewal point (half-life, +10% jitter) with the CA gone.
      const pastHalfLife = Math.max(...APPS.map((name) => held[name]! - 0.45 * SVID_TTL_MS)) + 3_000;
      let calls = 0;
      while (Date.now() < pastHalfLife) {
        const answer = await viaA('/chain', token);
        expect(answer.status).toBe(200);
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
      expect(calls).toBeGreaterThan(0);
      for (const name of APPS) {
        // Not renewed (the CA is down) yet still valid: traffic ran on the SVID each one held. A
        // renewal would move the expiry by half the lifetime; the slack only absorbs the time a
        // scrape takes on a busy machine.
        const now = await svidExpiresAt(name);
        expect(Math.abs(now - held[name]!)).toBeLessThan(20_000);
        expect(now).toBeGreaterThan(Date.now());
      }
      expect((await viaA('/chain', token)).status).toBe(200);

      ready = await startControlPlane();
      for (const name of APPS) {
        await eventually(
          async () => (await svidExpiresAt(name)) > held[name]! + 30_000,
          `sidecar ${name} renewed its SVID`,
          90_000,
          500,
        );
      }
      expect((await viaA('/chain', token)).status).toBe(200);
    },
  );
});
