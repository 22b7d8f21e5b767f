// Every AuthPolicy example of docs/examples/ enforced by real sidecars on real requests. For
// each example: `kubectl apply` to the real API server with a control plane running, Accepted;
// a real `lanyard sidecar` process per workload its cases call (a Pod object with a token bound
// to it, an SVID from the CA), Ready once they ACK; then every case of cases/NAME.cases.yaml as
// an HTTP request through the sidecar's inbound listener to a small app: over mTLS with a
// client certificate for the case's caller, issued by the control plane's CA (plaintext when
// the case has no caller), with an end-user token signed by a test issuer when it has claims.
// ALLOW must reach the app; DENY must be refused as the sidecar refuses (403, 401 with a step-up
// challenge, or the connection closed for plaintext under STRICT mTLS).
import { webcrypto, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import {
  Agent,
  createServer as createHttpsServer,
  request as httpsRequest,
  type Server as HttpsServer,
} from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import { compilePolicies } from '../../lib/policy/index.ts';
import { resolveOptions } from '../../lib/policy/options.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  casesFileOf,
  listExamples,
  readCases,
  readExample,
  type ExampleCase,
} from '../helpers/example-cases.ts';
import { kubeConfig, kubectl, readAuthPolicy, uniqueName } from '../helpers/kube.ts';
import { createPod, openMeshCa, podTokenFile, type MeshCa } from '../helpers/mesh-pods.ts';
import { createTestCa } from '../helpers/pki.ts';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.ts';
import { createTestKey, jwksOf, signToken, type TestKey } from '../helpers/sidecar-jwt.ts';

const TRUST_DOMAIN = 'cluster.local';
const FOREIGN_PEER =
  'the mesh has one trust domain and no federation: its CA issues only cluster.local IDs and a ' +
  'sidecar refuses, at the TLS handshake, any peer of another trust domain';

/**
 * Cases no real request can express, by "example: case name", with the reason. The test fails
 * if a case needs this list and is missing from it, or if an entry names no case.
 */
const NOT_EXPRESSIBLE: Record<string, string> = {
  'deny-admin.yaml: an "ops" namespace of another trust domain is still outside ops and is refused /admin':
    FOREIGN_PEER,
  'source-matching.yaml: the */sa/batch suffix also matches a batch account of another trust domain':
    FOREIGN_PEER,
  "source-matching.yaml: namespaces count only in the mesh's own trust domain, so team-red of another trust domain is refused":
    FOREIGN_PEER,
};

/**
 * The examples' issuers publish keys at hosts that do not resolve here: the applied copy names
 * the test issuer's JWKS server instead (same path), and nothing else changes. Inline keys stay
 * as written; user-tokens.yaml's are the ES256 key of RFC 7515 appendix A.3, whose private part
 * the RFC publishes, so the test can sign for that issuer too.
 */
const RFC7515_A3_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
  d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI',
} as const;

interface Issuer {
  issuer: string;
  jwksUri?: string;
  jwks?: string;
  audiences: string[];
  from?: { header?: string; prefix?: string; cookie?: string }[];
  claimsToHeaders?: { claim: string[]; header: string }[];
}

interface Outcome {
  /** Undefined when the connection closed without an HTTP response. */
  status?: number;
  headers: IncomingHttpHeaders;
  body: string;
  error?: string;
}

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const system = uniqueName('lanyard-system');
const scratch = mkdtempSync(join(tmpdir(), 'lanyard-examples-'));
let controlPlane: ControlPlane;
let meshCa: MeshCa;
let app: Server;
let appPort: number;
let jwksServer: HttpsServer;
let jwksPort: number;
let jwksCaFile: string;
let issuerKey: TestKey;
let inlineKey: TestKey;

function echoApp(): Server {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers })));
  });
}

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

async function keyFromJwk(jwk: typeof RFC7515_A3_KEY, kid: string): Promise<TestKey> {
  const der = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey(
    'pkcs8',
    der,
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid };
  return { kid, alg: 'ES256', privateKey, publicJwk };
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', repoPath('crds/authpolicy.yaml')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);
  await core.createNamespace({ body: { metadata: { name: system } } });
  controlPlane = await startControlPlane({
    source: { kind: 'kubernetes', kubeConfig: kc, namespace: system, identity: 'replica-1' },
    // Mesh-wide policies of other tests (in lanyard-system) must not reach these workloads.
    compile: { rootNamespace: system },
    host: '127.0.0.1',
    port: 0,
  });
  meshCa = await openMeshCa(kc, system);

  app = echoApp();
  appPort = await listen(app);

  issuerKey = await createTestKey('ES256', 'test-issuer');
  inlineKey = await keyFromJwk(RFC7515_A3_KEY, 'k1');
  const tlsCa = await createTestCa('jwks-test-ca');
  const serving = await tlsCa.issue({ subject: 'CN=127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
  jwksCaFile = join(scratch, 'jwks-ca.pem');
  writeFileSync(jwksCaFile, tlsCa.certPem);
  const document = JSON.stringify(jwksOf(issuerKey));
  jwksServer = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(document);
  });
  jwksPort = await listen(jwksServer);
}, 120_000);

afterAll(async () => {
  app?.close();
  jwksServer?.close();
  await controlPlane?.close();
  await core.deleteNamespace({ name: system }).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});

function repoPath(path: string): string {
  return new URL(`../../${path}`, import.meta.url).pathname;
}

function caseKey(example: string, c: ExampleCase): string {
  return `${example}: ${c.name}`;
}

function trustDomainOf(spiffeId: string): string {
  return new URL(spiffeId).host;
}

/** "default/app=orders,tier=web" with the example's namespaces mapped to this run's. */
function workloadOf(
  to: string,
  namespaces: Record<string, string>,
): { namespace: string; labels: Record<string, string> } {
  const [namespace, labelText = ''] = to.split('/', 2) as [string, string?];
  const mapped = namespaces[namespace];
  if (!mapped) throw new Error(`case workload namespace "${namespace}" has no namespace in this test`);
  const labels = Object.fromEntries(
    labelText
      .split(',')
      .filter(Boolean)
      .map((pair) => pair.split('=', 2) as [string, string]),
  );
  return { namespace: mapped, labels };
}

/** The example as applied: its JWKS URIs point at the test issuer (same path). */
function appliedExample(example: string, namespace: string) {
  const object = readExample(example);
  const issuers = (object.spec.userTokens as Issuer[] | undefined) ?? [];
  const userTokens = issuers.map((issuer) =>
    issuer.jwksUri === undefined
      ? issuer
      : { ...issuer, jwksUri: `https://127.0.0.1:${jwksPort}${new URL(issuer.jwksUri).pathname}` },
  );
  return {
    object: {
      ...object,
      metadata: { ...object.metadata, namespace },
      spec: { ...object.spec, ...(issuers.length > 0 ? { userTokens } : {}) },
    },
    issuers,
  };
}

/** A token with the case's claims from the issuer they name (else the example's first). */
async function userToken(
  c: ExampleCase,
  issuers: Issuer[],
): Promise<{ headers: Record<string, string>; issuer: Issuer }> {
  const claims = c.claims!;
  const issuer = issuers.find((i) => i.issuer === (claims.iss ?? issuers[0]?.issuer));
  if (!issuer) throw new Error(`case "${c.name}" has claims but its example names no such issuer`);
  let key = issuerKey;
  if (issuer.jwks !== undefined) {
    const inline = JSON.parse(issuer.jwks) as { keys: { x?: string }[] };
    if (!inline.keys.some((k) => k.x === RFC7515_A3_KEY.x))
      throw new Error(`no private key for the inline JWKS of ${issuer.issuer}`);
    key = inlineKey;
  }
  const now = Math.floor(Date.now() / 1000);
  const token = await signToken(key, {
    iss: issuer.issuer,
    aud: issuer.audiences[0],
    iat: now,
    exp: now + 300,
    ...claims,
  });
  const location = issuer.from?.[0] ?? { header: 'authorization', prefix: 'Bearer ' };
  const headers = location.cookie
    ? { cookie: `${location.cookie}=${token}` }
    : { [location.header!]: `${location.prefix ?? ''}${token}` };
  return { headers, issuer };
}

/** One request through a sidecar's inbound port: mTLS as `from`, or plaintext. */
function send(
  port: number,
  serverId: string,
  c: { from?: string; method?: string; path?: string; host?: string },
  headers: Record<string, string>,
  agent?: Agent,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const common = {
      host: '127.0.0.1',
      port,
      method: c.method ?? 'GET',
      path: c.path ?? '/',
      headers: { host: c.host ?? 'localhost', ...headers },
    };
    const onResponse = (res: IncomingMessage) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    };
    let req;
    if (c.from === undefined) {
      req = httpRequest({ ...common, agent: false }, onResponse);
    } else {
      const svid = callerSvid(c.from);
      req = httpsRequest(
        {
          ...common,
          ...(agent ? { agent } : { agent: false }),
          cert: svid.certChainPem,
          key: svid.keyPem,
          ca: meshCa.rootsPem,
          // The sidecar's certificate must carry the workload's SPIFFE ID (no DNS names).
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            cert.subjectaltname?.split(', ').includes(`URI:${serverId}`)
              ? undefined
              : new Error(`server is not ${serverId}: ${cert.subjectaltname}`),
        },
        onResponse,
      );
    }
    req.on('error', (error) => resolve({ headers: {}, body: '', error: error.message }));
    req.end();
  });
}

const svids = new Map<string, ReturnType<MeshCa['issue']>>();
function callerSvid(spiffeId: string) {
  let svid = svids.get(spiffeId);
  if (!svid) {
    svid = meshCa.issue(spiffeId);
    svids.set(spiffeId, svid);
  }
  return svid;
}

interface Target {
  workload: { namespace: string; labels: Record<string, string> };
  /** The port the request is addressed to (the app's), which port rules match. */
  port: number;
  spiffeId: string;
  sidecar: SidecarProcess;
}

const examples = listExamples();

it('finds the examples, each with a cases file', () => {
  expect(examples.length).toBeGreaterThan(0);
  for (const example of examples) expect(readCases(example).length, casesFileOf(example)).toBeGreaterThan(0);
});

it('lists only existing cases as not expressible, each because it needs it', () => {
  const all = new Map(examples.flatMap((e) => readCases(e).map((c) => [caseKey(e, c), c] as const)));
  for (const key of Object.keys(NOT_EXPRESSIBLE)) {
    const c = all.get(key);
    expect(c, `NOT_EXPRESSIBLE names no case: ${key}`).toBeDefined();
    expect(trustDomainOf(c!.from!)).not.toBe(TRUST_DOMAIN);
  }
  for (const [key, c] of all) {
    if (c.from !== undefined && trustDomainOf(c.from) !== TRUST_DOMAIN)
      expect(NOT_EXPRESSIBLE[key], `${key} needs a NOT_EXPRESSIBLE entry`).toBeDefined();
  }
});

describe.each(examples)('docs/examples/%s on real sidecars', (example) => {
  it('is accepted, delivered (Ready) and enforced on real requests as its cases say', async () => {
    const main = uniqueName('ex');
    const other = uniqueName('ex-shop');
    // The examples name no namespace ("default"); some cases call a workload in "shop".
    const namespaces = { default: main, shop: other };
    const dir = mkdtempSync(join(scratch, `${example.replace(/\.yaml$/, '')}-`));
    const targets = new Map<string, Target>();
    const extraApps: Server[] = [];
    for (const name of [main, other]) {
      await core.createNamespace({ body: { metadata: { name } } });
      await core.createNamespacedServiceAccount({
        namespace: name,
        body: { metadata: { name: 'workload' } },
      });
    }
    try {
      const { object, issuers } = appliedExample(example, main);
      await kubectl(['apply', '-f', '-'], JSON.stringify(object));
      await eventually(
        async () => {
          const stored = await readAuthPolicy(main, object.metadata.name);
          const accepted = stored.status?.conditions?.find((c) => c.type === 'Accepted');
          return (
            stored.status?.observedGeneration === stored.metadata.generation && accepted?.status === 'True'
          );
        },
        `${example} Accepted=True`,
        60_000,
      );

      const cases = readCases(example).filter((c) => NOT_EXPRESSIBLE[caseKey(example, c)] === undefined);
      const options = resolveOptions({ trustDomain: TRUST_DOMAIN, rootNamespace: system });
      const { index } = compilePolicies([object], options);

      // One sidecar per workload (and addressed port) the cases call.
      for (const c of cases) {
        const port = c.port === undefined ? appPort : Number(c.port);
        const key = `${c.to}|${port}`;
        if (targets.has(key)) continue;
        const workload = workloadOf(c.to, namespaces);
        if (
          port !== appPort &&
          c.expect === 'ALLOW' &&
          !extraApps.some((s) => (s.address() as { port: number }).port === port)
        ) {
          const extra = echoApp();
          await listen(extra, port).catch((error: unknown) => {
            throw new Error(`case "${c.name}" needs an app on port ${port}: ${String(error)}`);
          });
          extraApps.push(extra);
        }
        const pod = {
          namespace: workload.namespace,
          name: `w${targets.size}`,
          serviceAccount: 'workload',
          labels: workload.labels,
        };
        const uid = await createPod(core, pod);
        const sidecar = await startSidecarProcess({
          controlPlaneAddress: controlPlane.address,
          controlPlaneId: controlPlane.spiffeId,
          rootsPem: controlPlane.rootsPem(),
          podName: pod.name,
          tokenPath: await podTokenFile(core, pod, uid, dir),
          appPort: port,
          dir,
          env: { NODE_EXTRA_CA_CERTS: jwksCaFile },
        });
        targets.set(key, {
          workload,
          port,
          spiffeId: `spiffe://${TRUST_DOMAIN}/ns/${workload.namespace}/sa/workload`,
          sidecar,
        });
        // One at a time: several starting at once on a small machine take longer in all.
        await sidecar.ready();
      }

      const ready = await eventually(
        async () => {
          const stored = await readAuthPolicy(main, object.metadata.name);
          const condition = stored.status?.conditions?.find((c) => c.type === 'Ready');
          return condition?.status === 'True' && condition.observedGeneration === stored.metadata.generation
            ? condition
            : undefined;
        },
        `${example} Ready=True`,
        60_000,
      );
      expect(ready.reason).toBe('Delivered');

      const failures: string[] = [];
      for (const c of cases) {
        const port = c.port === undefined ? appPort : Number(c.port);
        const target = targets.get(`${c.to}|${port}`)!;
        const token = c.claims === undefined ? undefined : await userToken(c, issuers);
        const outcome = await send(target.sidecar.inboundPort, target.spiffeId, c, token?.headers ?? {});
        const problem = judge(c, outcome, index.forWorkload(target.workload).mtls, token?.issuer);
        if (problem) failures.push(`"${c.name}": ${problem}`);
      }
      if (example === 'rate-limit-claim.yaml') {
        const problem = await exhaustTenantLimit(targets, issuers);
        if (problem) failures.push(problem);
      }
      expect(failures, [...targets.values()].map((t) => t.sidecar.logFile).join(', ')).toEqual([]);
    } finally {
      await Promise.all([...targets.values()].map((t) => t.sidecar.close()));
      for (const server of extraApps) server.close();
      for (const name of [main, other]) await core.deleteNamespace({ name }).catch(() => undefined);
    }
  }, 240_000);
});

/** What the real sidecar did against what the case expects; undefined when they agree. */
function judge(
  c: ExampleCase,
  outcome: Outcome,
  mtls: 'STRICT' | 'PERMISSIVE',
  issuer?: Issuer,
): string | undefined {
  const got =
    outcome.status === undefined
      ? `no HTTP response (${outcome.error})`
      : `${outcome.status} ${outcome.body.trim().slice(0, 200)}`;
  if (c.expect === 'ALLOW') {
    if (outcome.status !== 200) return `expected the app's 200, got ${got}`;
    const seen = JSON.parse(outcome.body) as { method: string; headers: Record<string, string> };
    if (seen.method !== (c.method ?? 'GET')) return `the app saw ${seen.method}`;
    if (c.from !== undefined && seen.headers['x-lanyard-peer-id'] !== c.from)
      return `the app saw peer ${seen.headers['x-lanyard-peer-id']}`;
    for (const mapping of issuer?.claimsToHeaders ?? []) {
      const value = mapping.claim.reduce<unknown>(
        (v, k) => (v as Record<string, unknown> | undefined)?.[k],
        c.claims,
      );
      if (typeof value === 'string' && seen.headers[mapping.header] !== value)
        return `the app saw ${mapping.header}: ${seen.headers[mapping.header]}`;
    }
    return undefined;
  }
  if (c.from === undefined && mtls === 'STRICT') {
    // Plaintext under STRICT mTLS is refused before HTTP: the connection is closed.
    return outcome.status === undefined ? undefined : `expected the connection refused, got ${got}`;
  }
  if (c.stepUp) {
    const challenge = String(outcome.headers['www-authenticate'] ?? '');
    return outcome.status === 401 && challenge.includes('insufficient_user_authentication')
      ? undefined
      : `expected 401 with a step-up challenge, got ${got} (${challenge})`;
  }
  return outcome.status === 403 ? undefined : `expected 403, got ${got}`;
}

/**
 * search-limits' per-tenant rule allows 1000 requests a minute per tenant: the 1001st within
 * the minute (or a little later, as the bucket refills) gets 429 with Retry-After. Bounded, so
 * a sidecar that never limits fails rather than hangs.
 */
async function exhaustTenantLimit(
  targets: Map<string, Target>,
  issuers: Issuer[],
): Promise<string | undefined> {
  const target = [...targets.values()].find((t) => t.workload.labels.app === 'search')!;
  const request = {
    from: 'spiffe://cluster.local/ns/gateway/sa/ingress',
    path: '/search/boots',
    name: 'rate limit',
    to: '',
    expect: 'ALLOW' as const,
    claims: { sub: 'bulk-user', tenant: 'bulk-tenant' },
  };
  const { headers } = await userToken(request, issuers);
  const svid = callerSvid(request.from);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 8,
    cert: svid.certChainPem,
    key: svid.keyPem,
    ca: meshCa.rootsPem,
  });
  try {
    let sent = 0;
    while (sent < 3000) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, () =>
          send(target.sidecar.inboundPort, target.spiffeId, request, headers, agent),
        ),
      );
      sent += batch.length;
      const limited = batch.find((o) => o.status === 429);
      if (limited) {
        return Number(limited.headers['retry-after']) > 0 ? undefined : 'a 429 without Retry-After';
      }
      const other = batch.find((o) => o.status !== 200);
      if (other) return `rate limit: unexpected ${other.status ?? other.error}`;
    }
    return `rate limit: no 429 after ${sent} requests of one tenant`;
  } finally {
    agent.destroy();
  }
}
