// The charts with the pinned helm: lint, template (defaults, HA overlay, refused values), then
// install, upgrade and uninstall against the real API server. No kubelet runs, so the controller
// pods never start: the test checks the objects, not a rollout.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubectl, uniqueName } from '../helpers/kube.ts';

const run = promisify(execFile);
const charts = fileURLToPath(new URL('../../charts/', import.meta.url));
const namespace = uniqueName('helm');
const crd = 'customresourcedefinition/authpolicies.lanyard.dev';

interface HelmResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function helm(args: string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(
      join(inject('clusterBinDir'), 'helm'),
      [...args, '--kubeconfig', inject('kubeconfig')],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return { ok: true, stdout, stderr };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: failure.stdout ?? '', stderr: failure.stderr || failure.message };
  }
}

async function helmOk(args: string[]): Promise<string> {
  const result = await helm(args);
  if (!result.ok) throw new Error(`helm ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

interface KubeObject {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
}

async function template(...args: string[]): Promise<KubeObject[]> {
  const out = await helmOk([
    'template',
    'lanyard',
    `${charts}lanyard`,
    '--namespace',
    'lanyard-system',
    ...args,
  ]);
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

function deploymentSpec(objects: KubeObject[]) {
  const deployment = objects.find((o) => o.kind === 'Deployment');
  return deployment?.spec as {
    replicas: number;
    template: {
      spec: {
        affinity?: { podAntiAffinity?: Record<string, unknown> };
        containers: { env: { name: string; value?: string }[]; securityContext: Record<string, unknown> }[];
      };
    };
  };
}

async function exists(ref: string, ns?: string): Promise<boolean> {
  const out = await kubectl(['get', ref, '--ignore-not-found', '-o', 'name', ...(ns ? ['-n', ns] : [])]);
  return out.trim() !== '';
}

describe('charts, offline', () => {
  it('pass helm lint --strict, with the defaults and with the HA overlay', async () => {
    await helmOk(['lint', '--strict', `${charts}lanyard`, `${charts}lanyard-crds`]);
    await helmOk(['lint', '--strict', `${charts}lanyard`, '-f', `${charts}lanyard/values-ha.yaml`]);
  });

  it('render the controller with its objects, env and security context by default', async () => {
    const objects = await template();
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    const spec = deploymentSpec(objects);
    expect(spec.replicas).toBe(2);
    expect(spec.template.spec.affinity?.podAntiAffinity).toHaveProperty(
      'preferredDuringSchedulingIgnoredDuringExecution',
    );
    const container = spec.template.spec.containers[0]!;
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.env.map((e) => e.name)).toEqual([
      'POD_NAME',
      'POD_NAMESPACE',
      'LANYARD_TRUST_DOMAIN',
      'LANYARD_DEFAULT_ACTION',
      'LANYARD_GRPC_PORT',
      'LANYARD_ROOT_NAMESPACE',
    ]);
    expect(container.env.find((e) => e.name === 'LANYARD_ROOT_NAMESPACE')?.value).toBe('lanyard-system');
  });

  it('render 3 replicas with required anti-affinity from values-ha.yaml', async () => {
    const spec = deploymentSpec(await template('-f', `${charts}lanyard/values-ha.yaml`));
    expect(spec.replicas).toBe(3);
    expect(spec.template.spec.affinity?.podAntiAffinity).toHaveProperty(
      'requiredDuringSchedulingIgnoredDuringExecution',
    );
  });

  it('render the optional ServiceMonitor and NetworkPolicy when enabled', async () => {
    const kinds = (
      await template('--set', 'serviceMonitor.enabled=true', '--set', 'networkPolicy.enabled=true')
    ).map((o) => o.kind);
    expect(kinds).toContain('ServiceMonitor');
    expect(kinds).toContain('NetworkPolicy');
  });

  it.each([
    ['defaultAction=MAYBE', "at '/defaultAction': value must be one of 'ALLOW', 'DENY'"],
    ['trustDomain=Bad_Domain', "at '/trustDomain': 'Bad_Domain' does not match pattern '^[a-z0-9._-]+$'"],
    ['replicas=0', "at '/replicas': minimum: got 0, want 1"],
    ['replica=3', "additional properties 'replica' not allowed"],
  ])('refuse %s with the schema message', async (value, message) => {
    const result = await helm(['template', 'lanyard', `${charts}lanyard`, '--set', value]);
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
  });
});

describe('charts on the real API server', () => {
  beforeAll(async () => {
    // Other tests apply the CRD with kubectl, so it may exist already: the test always starts
    // from that state. Helm installs over it once it carries this release's ownership metadata
    // (Helm's documented adoption, the step docs/install.md gives).
    await kubectl([
      'apply',
      '--server-side',
      '-f',
      fileURLToPath(new URL('../../crds/authpolicy.yaml', import.meta.url)),
    ]);
    await kubectl(['label', '--overwrite', crd, 'app.kubernetes.io/managed-by=Helm']);
    await kubectl([
      'annotate',
      '--overwrite',
      crd,
      'meta.helm.sh/release-name=lanyard-crds',
      `meta.helm.sh/release-namespace=${namespace}`,
    ]);
  });

  afterAll(async () => {
    await helm(['uninstall', 'lanyard', '--namespace', namespace]);
    await helm(['uninstall', 'lanyard-crds', '--namespace', namespace]);
    await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false']);
  });

  it('installs the CRD chart (CRD established) and the control-plane chart with every object', async () => {
    await helmOk([
      'install',
      'lanyard-crds',
      `${charts}lanyard-crds`,
      '--namespace',
      namespace,
      '--create-namespace',
    ]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', crd]);

    const out = await helmOk(['install', 'lanyard', `${charts}lanyard`, '--namespace', namespace]);
    expect(out).toContain('kubectl label namespace <your-namespace> lanyard.dev/inject=enabled');

    for (const kind of [
      'deployment',
      'serviceaccount',
      'role',
      'rolebinding',
      'service',
      'poddisruptionbudget',
    ]) {
      expect(await exists(`${kind}/lanyard-controller`, namespace), kind).toBe(true);
    }
    for (const kind of ['clusterrole', 'clusterrolebinding']) {
      expect(await exists(`${kind}/lanyard-controller-${namespace}`), kind).toBe(true);
    }
    expect(await kubectl(['get', 'authpolicies', '-n', namespace])).toBe('');
  });

  it('grants the controller what it uses and nothing more', async () => {
    const can = async (...args: string[]) => {
      const out = await kubectl([
        'auth',
        'can-i',
        `--as=system:serviceaccount:${namespace}:lanyard-controller`,
        ...args,
      ]).catch((error: Error) => error.message);
      return out.trim().endsWith('yes');
    };
    expect(
      await can('update', 'authpolicies.lanyard.dev/status', '-n', 'default', '--subresource=status'),
    ).toBe(true);
    expect(await can('watch', 'pods', '--all-namespaces')).toBe(true);
    expect(await can('create', 'tokenreviews.authentication.k8s.io')).toBe(true);
    expect(await can('create', 'events', '-n', 'default')).toBe(true);
    expect(await can('update', 'secrets/lanyard-ca', '-n', namespace)).toBe(true);
    expect(await can('update', 'leases.coordination.k8s.io/lanyard-controller', '-n', namespace)).toBe(true);

    expect(await can('update', 'authpolicies.lanyard.dev', '-n', 'default')).toBe(false);
    expect(await can('get', 'secrets/other', '-n', namespace)).toBe(false);
    expect(await can('list', 'secrets', '-n', namespace)).toBe(false);
    expect(await can('create', 'secrets', '-n', 'default')).toBe(false);
    expect(await can('delete', 'pods', '-n', 'default')).toBe(false);
  });

  it('upgrades with changed values', async () => {
    await helmOk(['upgrade', 'lanyard-crds', `${charts}lanyard-crds`, '--namespace', namespace]);
    await helmOk([
      'upgrade',
      'lanyard',
      `${charts}lanyard`,
      '--namespace',
      namespace,
      '--set',
      'defaultAction=DENY',
    ]);
    const env = await kubectl([
      'get',
      'deployment',
      'lanyard-controller',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="LANYARD_DEFAULT_ACTION")].value}',
    ]);
    expect(env).toBe('DENY');
  });

  it('uninstalls every object; the CRD stays (resource-policy keep) so no AuthPolicy is lost', async () => {
    await helmOk(['uninstall', 'lanyard', '--namespace', namespace, '--wait']);
    for (const kind of [
      'deployment',
      'serviceaccount',
      'role',
      'rolebinding',
      'service',
      'poddisruptionbudget',
    ]) {
      expect(await exists(`${kind}/lanyard-controller`, namespace), kind).toBe(false);
    }
    for (const kind of ['clusterrole', 'clusterrolebinding']) {
      expect(await exists(`${kind}/lanyard-controller-${namespace}`), kind).toBe(false);
    }

    const out = await helmOk(['uninstall', 'lanyard-crds', '--namespace', namespace]);
    expect(out).toMatch(/kept due to the resource policy/);
    expect(await exists(crd)).toBe(true);
  });
});
