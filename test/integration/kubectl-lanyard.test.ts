// `kubectl lanyard status` against the real API server, run as kubectl runs a plugin: the test
// cluster's kubectl finds bin/kubectl-lanyard on PATH. The test creates what the command reads
// (controller pods with a written status, the Lease, the roots ConfigMap holding a real Lanyard
// root, an injected namespace and an AuthPolicy the compiler refuses, its status written as the
// controller writes it) instead of running a controller: no kubelet runs here.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AdmissionregistrationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  V1MicroTime,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateAuthority } from '../../ca/authority.ts';
import { desiredStatus } from '../../controller/status.ts';
import { compilePolicy } from '../../lib/policy/index.ts';
import { kubeConfig, kubectl, readAuthPolicy, uniqueName } from '../helpers/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const coordination = kc.makeApiClient(CoordinationV1Api);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
// Cluster-scoped, so named per run: other tests share the API server.
const webhookConfig = uniqueName('lanyard-injector');
const controlPlane = uniqueName('lanyard-cp');
const injected = uniqueName('lanyard-inj');
const pods = ['lanyard-controller-a', 'lanyard-controller-b'];
const workDir = mkdtempSync(join(tmpdir(), 'kubectl-lanyard-'));
let rootSubject: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `kubectl <args>` with bin/ on PATH, as a user with the plugin installed runs it. */
function kubectlPlugin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      join(inject('clusterBinDir'), 'kubectl'),
      args,
      {
        timeout: 120_000,
        env: {
          ...process.env,
          PATH: `${root}bin${delimiter}${process.env.PATH ?? ''}`,
          KUBECONFIG: inject('kubeconfig'),
          ...env,
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function setPodReady(name: string, ready: boolean): Promise<void> {
  const status = { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  await kubectl([
    'patch',
    'pod',
    name,
    '-n',
    controlPlane,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  ]);
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', `${root}crds/authpolicy.yaml`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);

  await core.createNamespace({ body: { metadata: { name: controlPlane } } });
  await core.createNamespacedServiceAccount({
    namespace: controlPlane,
    body: { metadata: { name: 'lanyard-controller' } },
  });
  for (const name of pods) {
    await core.createNamespacedPod({
      namespace: controlPlane,
      body: {
        metadata: {
          name,
          labels: {
            'app.kubernetes.io/name': 'lanyard',
            'app.kubernetes.io/instance': 'lanyard',
            'app.kubernetes.io/component': 'controller',
          },
        },
        spec: {
          serviceAccountName: 'lanyard-controller',
          containers: [{ name: 'controller', image: 'example.invalid/lanyard:0.1.0', args: ['controller'] }],
        },
      },
    });
    await setPodReady(name, true);
  }
  // A lease long enough that the test never races its expiry.
  await coordination.createNamespacedLease({
    namespace: controlPlane,
    body: {
      metadata: { name: 'lanyard-controller' },
      spec: { holderIdentity: pods[0], leaseDurationSeconds: 3600, renewTime: new V1MicroTime(Date.now()) },
    },
  });
  const authority = await generateAuthority({
    trustDomain: 'cluster.local',
    clock: { now: () => Date.now() },
    rootValidityMs: 400 * 24 * 3600_000,
  });
  rootSubject = new X509Certificate(authority.rootPem).subject.replaceAll('\n', ', ');
  await core.createNamespacedConfigMap({
    namespace: controlPlane,
    body: { metadata: { name: 'lanyard-roots' }, data: { 'roots.pem': authority.rootPem } },
  });
  // As the chart installs it and the leader patches it: both webhooks trust the published root.
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: webhookConfig },
      webhooks: ['namespace', 'object'].map((kind) => ({
        name: `${kind}.inject.lanyard.dev`,
        clientConfig: {
          service: { namespace: controlPlane, name: 'lanyard-webhook', path: '/inject', port: 443 },
          caBundle: Buffer.from(authority.rootPem).toString('base64'),
        },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        // Matches nothing, so that no other test's pod creation ever calls it.
        objectSelector: { matchLabels: { 'lanyard.dev/never': webhookConfig } },
      })),
    },
  });

  await core.createNamespace({
    body: { metadata: { name: injected, labels: { 'lanyard.dev/inject': 'enabled' } } },
  });
  await kubectl(['apply', '-n', injected, '-f', `${root}docs/examples/invalid/unknown-permission.yaml`]);
  // The status the controller writes for it, from the controller's own compiler and status code.
  const stored = await readAuthPolicy(injected, 'unknown-permission');
  const status = desiredStatus({
    generation: stored.metadata?.generation ?? 1,
    result: compilePolicy(stored),
    selectedWorkloads: 0,
    now: new Date().toISOString(),
  });
  await kubectl([
    'patch',
    'authpolicy',
    'unknown-permission',
    '-n',
    injected,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  ]);
});

afterAll(async () => {
  rmSync(workDir, { recursive: true, force: true });
  await kubectl(['delete', 'mutatingwebhookconfiguration', webhookConfig, '--ignore-not-found']);
  for (const name of [controlPlane, injected]) {
    await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
  }
});

describe('kubectl lanyard status', () => {
  it('reports the controller pods, leader, CA root, injected namespace and the refused policy, and exits 1', async () => {
    const { code, stdout, stderr } = await kubectlPlugin([
      'lanyard',
      'status',
      '--namespace',
      controlPlane,
      '--webhook-config',
      webhookConfig,
    ]);
    expect(stderr).toBe('');
    expect(stdout).toContain(
      'ok    namespace.inject.lanyard.dev: caBundle matches the published roots, failurePolicy Fail',
    );
    expect(stdout).toMatch(
      new RegExp(`^Lanyard in namespace ${controlPlane} \\(https://127\\.0\\.0\\.1:\\d+\\)$`, 'm'),
    );
    expect(stdout).toContain('ok    2/2 controller pods ready');
    expect(stdout).toContain('lanyard-controller-b: Running, ready, 0 restarts');
    expect(stdout).toMatch(/ok {4}leader: lanyard-controller-a \(Lease renewed \d+s ago\)/);
    expect(stdout).toMatch(
      new RegExp(`ok {4}${rootSubject}: expires on \\d{4}-\\d\\d-\\d\\d \\(399 days left\\)`),
    );
    expect(stdout).toContain(`          ${injected}\n`);
    expect(stdout).toContain(
      `FAIL  ${injected}/unknown-permission not accepted: Invalid: spec.rules[0].to[0].permission: unknown permission "wrte"`,
    );
    expect(code).toBe(1);
  });

  it('fails when a webhook lost its caBundle, naming the webhook', async () => {
    await kubectl([
      'patch',
      'mutatingwebhookconfiguration',
      webhookConfig,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/webhooks/1/clientConfig/caBundle' }]),
    ]);
    const { code, stdout } = await kubectlPlugin([
      'lanyard',
      'status',
      '-n',
      controlPlane,
      '--webhook-config',
      webhookConfig,
    ]);
    expect(stdout).toContain('ok    namespace.inject.lanyard.dev: caBundle matches the published roots');
    expect(stdout).toContain(
      "FAIL  object.inject.lanyard.dev: no caBundle: the controller's leader has not patched it",
    );
    expect(code).toBe(1);
  });

  it('fails the control plane when a controller pod is not ready', async () => {
    await setPodReady('lanyard-controller-b', false);
    try {
      const { code, stdout } = await kubectlPlugin(['lanyard', 'status', '-n', controlPlane]);
      expect(stdout).toContain('FAIL  1/2 controller pods ready');
      expect(stdout).toContain('lanyard-controller-b: Running, not ready, 0 restarts');
      expect(code).toBe(1);
    } finally {
      await setPodReady('lanyard-controller-b', true);
    }
  });

  it('fails when the control plane namespace holds no controller, no Lease and no roots', async () => {
    const empty = uniqueName('lanyard-empty');
    await core.createNamespace({ body: { metadata: { name: empty } } });
    try {
      const { code, stdout } = await kubectlPlugin(['lanyard', 'status', '--namespace', empty]);
      expect(stdout).toContain(`FAIL  no controller pods in namespace ${empty}`);
      expect(stdout).toContain('FAIL  no leader: the Lease lanyard-controller does not exist');
      expect(stdout).toContain(`FAIL  ConfigMap ${empty}/lanyard-roots not found`);
      expect(code).toBe(1);
    } finally {
      await kubectl(['delete', 'namespace', empty, '--wait=false']);
    }
  });

  it('exits 2 with a clear message when the kubeconfig is missing', async () => {
    const missing = join(workDir, 'no-such-kubeconfig');
    const { code, stdout, stderr } = await kubectlPlugin(['lanyard', 'status'], { KUBECONFIG: missing });
    expect(stdout).toBe('');
    expect(stderr).toBe(`lanyard status: no file of KUBECONFIG=${missing} exists\n`);
    expect(code).toBe(2);
  });
});

describe('kubectl lanyard check', () => {
  it('is `lanyard check`: the same explanation and exit code (1, a denied request)', async () => {
    const policies = join(workDir, 'policies');
    mkdirSync(policies);
    cpSync(`${root}docs/examples/orders-rbac.yaml`, join(policies, 'orders-rbac.yaml'));
    const args = [
      'check',
      '--policies',
      policies,
      '--to',
      'default/app=orders',
      '--from',
      'spiffe://cluster.local/ns/evil/sa/x',
      '--path',
      '/orders',
    ];
    const viaKubectl = await kubectlPlugin(['lanyard', ...args]);
    const direct = await new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        [`${root}bin/lanyard.js`, ...args],
        { timeout: 120_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
    expect(viaKubectl.stdout).toMatch(/^DENY \(NO_ALLOW_MATCH\)/);
    expect(viaKubectl.code).toBe(1);
    expect(viaKubectl).toEqual(direct);
  });
});
