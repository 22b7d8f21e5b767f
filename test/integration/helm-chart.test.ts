// The charts with the pinned helm: lint, template (defaults, HA overlay, refused values), then
// install, upgrade and uninstall against the real API server. No kubelet runs, so the controller
// pods never start: the test checks the objects, not a rollout, and plays the controller where
// the chart must cooperate with it (the webhook's caBundle). The golden files of every value set
// are checked by test/unit/charts-golden.test.ts with the same pinned helm.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { eventually } from '../helpers/eventually.ts';
import { kubectl, readAuthPolicy, uniqueName } from '../helpers/kube.ts';
import { freePorts } from '../helpers/ports.ts';

const run = promisify(execFile);
const charts = fileURLToPath(new URL('../../charts/', import.meta.url));
const namespace = uniqueName('helm');
const crd = 'customresourcedefinition/authpolicies.lanyard.dev';
const blocksCrd = 'customresourcedefinition/authblocks.lanyard.dev';

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
        containers: {
          env: { name: string; value?: string }[];
          ports: Record<string, unknown>[];
          readinessProbe: Record<string, unknown>;
          livenessProbe: Record<string, unknown>;
          securityContext: Record<string, unknown>;
        }[];
      };
    };
  };
}

/** The control-plane release's objects, as [reference, namespace] (cluster-scoped: no namespace). */
function releaseObjects(): [string, string | undefined][] {
  const namespaced = [
    'deployment',
    'serviceaccount',
    'role',
    'rolebinding',
    'service',
    'poddisruptionbudget',
  ];
  return [
    ...namespaced.map((kind): [string, string] => [`${kind}/lanyard-controller`, namespace]),
    ...['clusterrole', 'clusterrolebinding'].map((kind): [string, undefined] => [
      `${kind}/lanyard-controller-${namespace}`,
      undefined,
    ]),
    ['service/lanyard-webhook', namespace],
  ];
}

async function exists(ref: string, ns?: string): Promise<boolean> {
  const out = await kubectl(['get', ref, '--ignore-not-found', '-o', 'name', ...(ns ? ['-n', ns] : [])]);
  return out.trim() !== '';
}

/** The ClusterRole rules the contract lists (injection on, eviction off), as the API server stores them. */
const CLUSTER_RULES = [
  { apiGroups: ['lanyard.dev'], resources: ['authpolicies'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['lanyard.dev'], resources: ['authpolicies/status'], verbs: ['update'] },
  { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update'] },
  {
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['mutatingwebhookconfigurations'],
    resourceNames: ['lanyard-injector'],
    verbs: ['get', 'patch'],
  },
];

async function clusterRoleRules(): Promise<unknown[]> {
  return (
    JSON.parse(await kubectl(['get', 'clusterrole', `lanyard-controller-${namespace}`, '-o', 'json'])) as {
      rules: unknown[];
    }
  ).rules;
}

/** Whether the controller's ServiceAccount may do something, as the API server's authorizer says. */
async function can(...args: string[]): Promise<boolean> {
  const out = await kubectl([
    'auth',
    'can-i',
    `--as=system:serviceaccount:${namespace}:lanyard-controller`,
    ...args,
  ]).catch((error: Error) => error.message);
  return out.trim().endsWith('yes');
}

interface WebhookConfiguration {
  webhooks: {
    name: string;
    failurePolicy: string;
    timeoutSeconds: number;
    clientConfig: { service?: Record<string, unknown>; caBundle?: string };
    namespaceSelector: { matchExpressions: unknown[] };
  }[];
}

async function webhookConfiguration(): Promise<WebhookConfiguration> {
  return JSON.parse(
    await kubectl(['get', 'mutatingwebhookconfiguration', 'lanyard-injector', '-o', 'json']),
  ) as WebhookConfiguration;
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
      'MutatingWebhookConfiguration',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
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
    expect(Object.fromEntries(container.env.map((e) => [e.name, e.value]))).toEqual({
      POD_NAME: undefined,
      POD_NAMESPACE: undefined,
      LANYARD_TRUST_DOMAIN: 'cluster.local',
      LANYARD_DEFAULT_ACTION: 'ALLOW',
      LANYARD_GRPC_PORT: '15012',
      LANYARD_HTTP_PORT: '15014',
      LANYARD_ROOT_NAMESPACE: 'lanyard-system',
      LANYARD_SVID_TTL: '1h',
      LANYARD_SVID_MIN_TTL: '5m',
      LANYARD_SVID_MAX_TTL: '24h',
      LANYARD_JWT_SVID_TTL: '5m',
      LANYARD_MONITOR_DENIAL_SPIKE_THRESHOLD: '20',
      LANYARD_MONITOR_DENIAL_SPIKE_WINDOW: '1m',
      LANYARD_MONITOR_TOKEN_SPREAD_THRESHOLD: '3',
      LANYARD_MONITOR_TOKEN_SPREAD_WINDOW: '10m',
      LANYARD_MONITOR_TOKEN_COUNTRIES_THRESHOLD: '2',
      LANYARD_MONITOR_TOKEN_COUNTRIES_WINDOW: '1h',
      LANYARD_MONITOR_BAD_TOKENS_THRESHOLD: '10',
      LANYARD_MONITOR_BAD_TOKENS_WINDOW: '1m',
      LANYARD_MONITOR_GEOIP: 'builtin',
      LANYARD_MONITOR_AUTOBLOCK_KINDS: '',
      LANYARD_MONITOR_AUTOBLOCK_TTL: '15m',
      LANYARD_WEBHOOK_PORT: '15017',
      LANYARD_WEBHOOK_CONFIG_NAME: 'lanyard-injector',
      LANYARD_WEBHOOK_SERVICE: 'lanyard-webhook',
      LANYARD_SIDECAR_IMAGE: 'ghcr.io/lanyard/lanyard:0.1.0',
      LANYARD_SIDECAR_IMAGE_PULL_POLICY: 'IfNotPresent',
      LANYARD_CONTROL_PLANE_ADDRESS: 'lanyard-controller.lanyard-system.svc:15012',
      LANYARD_INJECT_REWRITE_PROBES: 'true',
      LANYARD_EVICT_PODS_WITHOUT_SIDECAR: 'false',
    });
    expect(container.ports).toEqual([
      { name: 'grpc', containerPort: 15012, protocol: 'TCP' },
      { name: 'http', containerPort: 15014, protocol: 'TCP' },
      { name: 'webhook', containerPort: 15017, protocol: 'TCP' },
    ]);
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: '/ready', port: 'http' } });
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
    const webhookService = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'lanyard-webhook');
    expect(webhookService?.spec?.ports).toEqual([
      { name: 'https-webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' },
    ]);
  });

  it('render no webhook, and tell the controller to host none, with injection disabled', async () => {
    const objects = await template('--set', 'injection.enabled=false');
    expect(objects.map((o) => o.kind)).not.toContain('MutatingWebhookConfiguration');
    expect(objects.filter((o) => o.kind === 'Service').map((o) => o.metadata.name)).toEqual([
      'lanyard-controller',
    ]);
    const container = deploymentSpec(objects).template.spec.containers[0]!;
    expect(container.env.find((e) => e.name === 'LANYARD_WEBHOOK_PORT')?.value).toBe('0');
    expect(container.env.map((e) => e.name)).not.toContain('LANYARD_SIDECAR_IMAGE');
    expect(container.ports).toEqual([
      { name: 'grpc', containerPort: 15012, protocol: 'TCP' },
      { name: 'http', containerPort: 15014, protocol: 'TCP' },
    ]);
  });

  it('render the detection webhook secret as a Secret reference, never as a value', async () => {
    const objects = await template(
      '--set',
      'monitor.webhook.url=https://hooks.example/lanyard',
      '--set',
      'monitor.webhook.secretName=hook',
    );
    const env = deploymentSpec(objects).template.spec.containers[0]!.env as {
      name: string;
      value?: string;
      valueFrom?: unknown;
    }[];
    expect(env.find((e) => e.name === 'LANYARD_MONITOR_WEBHOOK_SECRET')).toEqual({
      name: 'LANYARD_MONITOR_WEBHOOK_SECRET',
      valueFrom: { secretKeyRef: { name: 'hook', key: 'token' } },
    });
    expect(env.find((e) => e.name === 'LANYARD_MONITOR_WEBHOOK_SECRET_HEADER')?.value).toBe('Authorization');
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

  it('let the API server reach the webhook port through the NetworkPolicy', async () => {
    const objects = await template(
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      'networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/24',
    );
    const policy = objects.find((o) => o.kind === 'NetworkPolicy');
    expect(policy?.spec?.ingress).toEqual([
      { ports: [{ port: 15012, protocol: 'TCP' }] },
      { ports: [{ port: 15017, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/24' } }] },
    ]);
  });

  it.each([
    ['defaultAction=MAYBE', "at '/defaultAction': value must be one of 'ALLOW', 'DENY'"],
    ['trustDomain=Bad_Domain', "at '/trustDomain': 'Bad_Domain' does not match pattern '^[a-z0-9._-]+$'"],
    ['replicas=0', "at '/replicas': minimum: got 0, want 1"],
    ['replica=3', "additional properties 'replica' not allowed"],
    [
      'ca.svidTtl=1d',
      "at '/ca/svidTtl': '1d' does not match pattern '^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?$'",
    ],
    ['ca.jwtSvidTtl=5 min', "at '/ca/jwtSvidTtl': '5 min' does not match pattern"],
    ['injection.failurePolicy=Maybe', "at '/injection/failurePolicy': value must be one of 'Fail', 'Ignore'"],
    ['injection.timeoutSeconds=31', "at '/injection/timeoutSeconds': maximum: got 31, want 30"],
    [
      'monitor.autoBlock.kinds={bad-tokens}',
      "at '/monitor/autoBlock/kinds/0': value must be one of 'denial-spike', 'token-spread', 'token-countries'",
    ],
  ])('refuse %s with the schema message', async (value, message) => {
    const result = await helm(['template', 'lanyard', `${charts}lanyard`, '--set', value]);
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
  });

  it.each([
    ['ca.svidTtl=2m', 'ca.svidTtl (2m) must not be shorter than ca.svidMinTtl (5m)'],
    ['ca.svidTtl=25h', 'ca.svidTtl (25h) must not be longer than ca.svidMaxTtl (24h)'],
    ['ca.svidMinTtl=59s', 'ca.svidMinTtl (59s) must be at least 1m'],
    ['ca.svidMaxTtl=720h1s', 'ca.svidMaxTtl (720h1s) must be at most 720h (30 days)'],
    ['ca.jwtSvidTtl=1h1s', 'ca.jwtSvidTtl (1h1s) must be positive and at most 1h'],
    [
      'injection.enabled=false,injection.evictPodsWithoutSidecar=true',
      'injection.evictPodsWithoutSidecar needs injection.enabled',
    ],
    ['monitor.autoBlock.ttl=169h', 'monitor.autoBlock.ttl (169h) must be from 1s to 168h (7 days)'],
    [
      'monitor.webhook.url=http://hooks.example/,monitor.webhook.secretName=hook',
      'monitor.webhook.url must be https when monitor.webhook.secretName sends a secret header',
    ],
  ])('refuse %s at render time with a clear message', async (value, message) => {
    const result = await helm(['template', 'lanyard', `${charts}lanyard`, '--set', value]);
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain(`execution error at (lanyard/templates/deployment.yaml:1:4): ${message}`);
  });

  it('accept compound durations within the bounds', async () => {
    const objects = await template(
      '--set',
      'ca.svidTtl=1h30m',
      '--set',
      'ca.svidMinTtl=90s',
      '--set',
      'ca.svidMaxTtl=720h',
      '--set',
      'ca.jwtSvidTtl=1h',
    );
    const env = deploymentSpec(objects).template.spec.containers[0]!.env;
    expect(env.find((e) => e.name === 'LANYARD_SVID_TTL')?.value).toBe('1h30m');
    expect(env.find((e) => e.name === 'LANYARD_SVID_MIN_TTL')?.value).toBe('90s');
    expect(env.find((e) => e.name === 'LANYARD_SVID_MAX_TTL')?.value).toBe('720h');
    expect(env.find((e) => e.name === 'LANYARD_JWT_SVID_TTL')?.value).toBe('1h');
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
    await kubectl([
      'apply',
      '--server-side',
      '-f',
      fileURLToPath(new URL('../../crds/authblock.yaml', import.meta.url)),
    ]);
    for (const ref of [crd, blocksCrd]) {
      await kubectl(['label', '--overwrite', ref, 'app.kubernetes.io/managed-by=Helm']);
      await kubectl([
        'annotate',
        '--overwrite',
        ref,
        'meta.helm.sh/release-name=lanyard-crds',
        `meta.helm.sh/release-namespace=${namespace}`,
      ]);
    }
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
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', crd, blocksCrd]);

    const out = await helmOk(['install', 'lanyard', `${charts}lanyard`, '--namespace', namespace]);
    expect(out).toContain('kubectl label namespace <your-namespace> lanyard.dev/inject=enabled');
    expect(out).toContain(`kubectl lanyard status --namespace ${namespace}`);

    for (const [ref, ns] of releaseObjects()) expect(await exists(ref, ns), ref).toBe(true);
    expect(await kubectl(['get', 'authpolicies', '-n', namespace])).toBe('');
  });

  it('installs the webhook configuration, pointing at lanyard-webhook, with the caBundle left to the controller', async () => {
    const config = await webhookConfiguration();
    expect(config.webhooks.map((w) => w.name)).toEqual([
      'namespace.inject.lanyard.dev',
      'object.inject.lanyard.dev',
    ]);
    for (const webhook of config.webhooks) {
      expect(webhook.clientConfig).toEqual({
        service: { namespace, name: 'lanyard-webhook', path: '/inject', port: 443 },
      });
      expect(webhook.failurePolicy).toBe('Fail');
      expect(webhook.namespaceSelector.matchExpressions).toContainEqual({
        key: 'kubernetes.io/metadata.name',
        operator: 'NotIn',
        values: [namespace, 'kube-system'],
      });
    }
  });

  it('describes the AuthPolicy fields in kubectl explain', async () => {
    const explained = (await kubectl(['explain', 'authpolicy.spec'])).replace(/\s+/g, ' ');
    expect(explained).toContain('GROUP: lanyard.dev');
    expect(explained).toContain('The desired behaviour of the policy.');
    expect(explained).toMatch(/selector\s+<Object> Which pods of this namespace the policy applies to/);
    expect(explained).toMatch(
      /mtls\s+<string> enum: STRICT, PERMISSIVE How selected workloads accept connections/,
    );
    expect(explained).toMatch(
      /action\s+<string> enum: ALLOW, DENY, AUDIT What happens to a request that a rule matches/,
    );
    expect(explained).toMatch(
      /userTokens\s+<\[\]Object> The issuers of end-user JWTs that selected workloads accept/,
    );
    const rules = (await kubectl(['explain', 'authpolicy.spec.rules'])).replace(/\s+/g, ' ');
    expect(rules).toMatch(/FIELDS: .*from\s+<\[\]Object>/);
  });

  it("grants the controller exactly the contract's rules, eviction only when asked", async () => {
    expect(await clusterRoleRules()).toEqual(CLUSTER_RULES);
    const role = JSON.parse(
      await kubectl(['get', 'role', 'lanyard-controller', '-n', namespace, '-o', 'json']),
    ) as { rules: unknown[] };
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['lanyard-ca'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['lanyard-controller'],
        verbs: ['get', 'update'],
      },
      {
        apiGroups: ['lanyard.dev'],
        resources: ['authblocks'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
      },
    ]);

    expect(
      await can('update', 'authpolicies.lanyard.dev/status', '-n', 'default', '--subresource=status'),
    ).toBe(true);
    expect(await can('watch', 'pods', '--all-namespaces')).toBe(true);
    expect(await can('create', 'tokenreviews.authentication.k8s.io')).toBe(true);
    expect(await can('create', 'events', '-n', 'default')).toBe(true);
    expect(await can('patch', 'events', '-n', 'default')).toBe(true);
    expect(await can('update', 'secrets/lanyard-ca', '-n', namespace)).toBe(true);
    expect(await can('update', 'leases.coordination.k8s.io/lanyard-controller', '-n', namespace)).toBe(true);
    expect(await can('create', 'configmaps', '-n', 'default')).toBe(true);
    expect(await can('update', 'configmaps/lanyard-roots', '-n', 'default')).toBe(true);
    expect(
      await can('patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/lanyard-injector'),
    ).toBe(true);

    expect(await can('watch', 'authblocks.lanyard.dev', '-n', namespace)).toBe(true);
    expect(await can('delete', 'authblocks.lanyard.dev', '-n', namespace)).toBe(true);
    expect(await can('create', 'authblocks.lanyard.dev', '-n', 'default')).toBe(false);
    expect(await can('update', 'authpolicies.lanyard.dev', '-n', 'default')).toBe(false);
    expect(await can('get', 'secrets/other', '-n', namespace)).toBe(false);
    expect(await can('list', 'secrets', '-n', namespace)).toBe(false);
    expect(await can('create', 'secrets', '-n', 'default')).toBe(false);
    expect(await can('delete', 'pods', '-n', 'default')).toBe(false);
    expect(await can('list', 'configmaps', '-n', 'default')).toBe(false);
    expect(await can('delete', 'configmaps/lanyard-roots', '-n', 'default')).toBe(false);
    expect(await can('patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/other')).toBe(
      false,
    );
    expect(await can('create', 'mutatingwebhookconfigurations.admissionregistration.k8s.io')).toBe(false);
    expect(await can('create', 'pods/eviction', '-n', 'default', '--subresource=eviction')).toBe(false);
  });

  it("runs the controller under the chart's ServiceAccount: it leads, patches the caBundle, publishes roots and writes status", async () => {
    // A token of the chart's ServiceAccount (TokenRequest), and a kubeconfig holding only it: the
    // controller can do no more than the chart's RBAC grants.
    const token = (
      await kubectl(['create', 'token', 'lanyard-controller', '-n', namespace, '--duration=1h'])
    ).trim();
    const admin = new KubeConfig();
    admin.loadFromFile(inject('kubeconfig'));
    const cluster = admin.getCurrentCluster()!;
    const dir = mkdtempSync(join(tmpdir(), 'lanyard-chart-sa-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'test',
            cluster: {
              server: cluster.server,
              ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}),
              ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}),
            },
          },
        ],
        users: [{ name: 'lanyard-controller', user: { token } }],
        contexts: [{ name: 'sa', context: { cluster: 'test', user: 'lanyard-controller' } }],
        'current-context': 'sa',
      }),
      { mode: 0o600 },
    );
    const labelled = uniqueName('helm-injected');
    await kubectl(['create', 'namespace', labelled]);
    await kubectl(['label', 'namespace', labelled, 'lanyard.dev/inject=enabled']);
    const [grpcPort, webhookPort, httpPort] = (await freePorts(3)) as [number, number, number];
    // The env the chart's Deployment sets, as far as it matters outside a pod.
    const controller = spawn(process.execPath, [join(charts, '..', 'bin', 'lanyard.js'), 'controller'], {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: kubeconfig,
        POD_NAMESPACE: namespace,
        POD_NAME: 'chart-sa-controller',
        LANYARD_GRPC_PORT: String(grpcPort),
        LANYARD_WEBHOOK_PORT: String(webhookPort),
        LANYARD_HTTP_PORT: String(httpPort),
        LANYARD_SIDECAR_IMAGE: 'example.invalid/lanyard:test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    controller.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    controller.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const holder = await eventually(
        async () => {
          const lease = JSON.parse(
            await kubectl(['get', 'lease', 'lanyard-controller', '-n', namespace, '-o', 'json']).catch(
              () => '{}',
            ),
          ) as { spec?: { holderIdentity?: string } };
          return lease.spec?.holderIdentity;
        },
        `the Lease held by the controller (its output: ${output.slice(-2000)})`,
        // Starting the process (tsx compiling the controller) alone takes about 20 s on a busy
        // two-core machine.
        60_000,
      );
      expect(holder).toBe('chart-sa-controller');

      const roots = await eventually(
        async () => {
          const map = JSON.parse(
            await kubectl(['get', 'configmap', 'lanyard-roots', '-n', labelled, '-o', 'json']).catch(
              () => '{}',
            ),
          ) as { data?: Record<string, string> };
          return map.data?.['roots.pem'];
        },
        'lanyard-roots in the labelled namespace',
        60_000,
      );
      expect(roots).toMatch(/^-----BEGIN CERTIFICATE-----/);

      const bundles = await eventually(
        async () => {
          const found = (await webhookConfiguration()).webhooks.map((w) => w.clientConfig.caBundle ?? '');
          return found.every((b) => b !== '') ? found : undefined;
        },
        'the caBundle patched into the chart-installed webhook configuration',
        60_000,
      );
      for (const bundle of bundles) expect(Buffer.from(bundle, 'base64').toString()).toBe(roots);

      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'lanyard.dev/v1alpha1',
          kind: 'AuthPolicy',
          metadata: { name: 'chart-sa', namespace: labelled },
          spec: { action: 'ALLOW', rules: [{ from: [{ namespaces: [labelled] }] }] },
        }),
      );
      await eventually(
        async () => {
          const policy = await readAuthPolicy(labelled, 'chart-sa');
          return policy.status?.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True')
            ? true
            : undefined;
        },
        'Accepted=True written under the chart ServiceAccount',
        60_000,
      );
      // Nothing the controller tried was refused by the API server's authorizer.
      expect(output).not.toMatch(/forbidden/i);
    } finally {
      controller.kill('SIGTERM');
      await once(controller, 'exit');
      rmSync(dir, { recursive: true, force: true });
      await kubectl(['delete', 'namespace', labelled, '--ignore-not-found', '--wait=false']);
    }
  }, 300_000);

  it('upgrades with changed values and keeps the caBundle the controller patched in', async () => {
    // What the controller does once its serving certificate exists.
    const bundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString(
      'base64',
    );
    await kubectl([
      'patch',
      'mutatingwebhookconfiguration',
      'lanyard-injector',
      '--type=json',
      '-p',
      JSON.stringify(
        [0, 1].map((i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle })),
      ),
    ]);

    await helmOk(['upgrade', 'lanyard-crds', `${charts}lanyard-crds`, '--namespace', namespace]);
    await helmOk([
      'upgrade',
      'lanyard',
      `${charts}lanyard`,
      '--namespace',
      namespace,
      '--set',
      'defaultAction=DENY',
      '--set',
      'injection.timeoutSeconds=5',
      // Replaces the objects instead of patching them: only the lookup keeps the bundle then.
      '--force',
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
    const config = await webhookConfiguration();
    expect(config.webhooks.map((w) => [w.timeoutSeconds, w.clientConfig.caBundle])).toEqual([
      [5, bundle],
      [5, bundle],
    ]);
  });

  it('grants pods/eviction once injection.evictPodsWithoutSidecar is on', async () => {
    await helmOk([
      'upgrade',
      'lanyard',
      `${charts}lanyard`,
      '--namespace',
      namespace,
      '--reuse-values',
      '--set',
      'injection.evictPodsWithoutSidecar=true',
    ]);
    expect(await clusterRoleRules()).toEqual([
      ...CLUSTER_RULES,
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    ]);
    expect(await can('create', 'pods/eviction', '-n', 'default', '--subresource=eviction')).toBe(true);
  });

  it('uninstalls every object; the CRD stays (resource-policy keep) so no AuthPolicy is lost', async () => {
    await helmOk(['uninstall', 'lanyard', '--namespace', namespace, '--wait']);
    for (const [ref, ns] of releaseObjects()) expect(await exists(ref, ns), ref).toBe(false);
    expect(await exists('mutatingwebhookconfiguration/lanyard-injector')).toBe(false);

    const out = await helmOk(['uninstall', 'lanyard-crds', '--namespace', namespace]);
    expect(out).toMatch(/kept due to the resource policy/);
    expect(await exists(crd)).toBe(true);
    expect(await exists(blocksCrd)).toBe(true);
  });
});
