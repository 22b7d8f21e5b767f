import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { applyPatch, loadPod } from '../../test/helpers/admission.ts';
import {
  INJECTED_ANNOTATION,
  PROBES_ANNOTATION,
  SKIPPED_ANNOTATION,
  injectPod,
  resolveInjectOptions,
  type InjectOptions,
} from './injector.ts';

const options: InjectOptions = {
  image: 'ghcr.io/lanyard/lanyard:0.1.0',
  controlPlaneAddress: 'lanyard-controller.lanyard-system.svc:15012',
  trustDomain: 'cluster.local',
};

function injected(name: string, extra: Partial<InjectOptions> = {}): V1Pod {
  const pod = loadPod(name);
  const result = injectPod(pod, { ...options, ...extra });
  expect(result.reason).toBe('injected');
  return applyPatch(pod, result.patch);
}

function container(pod: V1Pod, name: string): V1Container {
  const found = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
    (c) => c.name === name,
  );
  if (!found) throw new Error(`no container ${name}`);
  return found;
}

function env(c: V1Container): Record<string, unknown> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
}

describe('injectPod', () => {
  it('adds lanyard-init then the native sidecar, both before other init containers', () => {
    const pod = injected('pod-with-init');
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual([
      'lanyard-init',
      'lanyard-sidecar',
      'migrate',
    ]);
    expect(container(pod, 'lanyard-sidecar').restartPolicy).toBe('Always');
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['orders']);
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual(['data', 'lanyard-token', 'lanyard-roots']);
  });

  it('gives the sidecar the env that sidecar/config.ts reads', () => {
    const sidecar = container(injected('pod-create'), 'lanyard-sidecar');
    expect(sidecar.command).toEqual([
      'node',
      '--max-semi-space-size=2',
      '--v8-pool-size=1',
      '--heap-growing-percent=50',
      'bin/lanyard.js',
    ]);
    expect(sidecar.args).toEqual(['sidecar']);
    expect(env(sidecar)).toMatchObject({
      LANYARD_CONTROL_PLANE: 'lanyard-controller.lanyard-system.svc:15012',
      LANYARD_TRUST_DOMAIN: 'cluster.local',
      LANYARD_ROOTS_FILE: '/var/run/lanyard/roots/roots.pem',
      LANYARD_TOKEN_PATH: '/var/run/secrets/lanyard/token',
      LANYARD_POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      LANYARD_POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      LANYARD_SERVICE_ACCOUNT: { fieldRef: { fieldPath: 'spec.serviceAccountName' } },
      LANYARD_APP_PORT: '8080',
    });
    expect(env(sidecar)).not.toHaveProperty('LANYARD_JOIN_TOKEN');
    expect(sidecar.volumeMounts).toEqual([
      { name: 'lanyard-token', mountPath: '/var/run/secrets/lanyard', readOnly: true },
      { name: 'lanyard-roots', mountPath: '/var/run/lanyard/roots', readOnly: true },
    ]);
    expect(sidecar.startupProbe?.httpGet).toEqual({ path: '/ready', port: 15020 });
    expect(sidecar.resources?.requests).toEqual({ cpu: '50m', memory: '64Mi' });
  });

  it('runs the sidecar as UID 1337, non-root, read-only, with no capabilities', () => {
    expect(container(injected('pod-create'), 'lanyard-sidecar').securityContext).toEqual({
      runAsUser: 1337,
      runAsGroup: 1337,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('grants NET_ADMIN and NET_RAW to lanyard-init only, and redirects the TCP app ports', () => {
    const pod = injected('pod-create', {
      excludeOutboundCidrs: ['169.254.169.254/32'],
      excludeOutboundPorts: [53],
    });
    const init = container(pod, 'lanyard-init');
    expect(init.securityContext?.capabilities).toEqual({ add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
    expect(init.restartPolicy).toBeUndefined();
    // Regression: `lanyard` is on no PATH in the image; the command names its entrypoint.
    expect(init.command).toEqual(['node', 'bin/lanyard.js']);
    expect(init.args).toEqual([
      'init-iptables',
      '--proxy-uid=1337',
      '--inbound-proxy-port=15006',
      '--outbound-proxy-port=15001',
      '--inbound-ports=8080,9090',
      '--exclude-inbound-ports=15020',
      '--exclude-outbound-ports=53',
      '--exclude-outbound-cidrs=169.254.169.254/32',
    ]);
    const others = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].filter(
      (c) => c.name !== 'lanyard-init',
    );
    for (const c of others) expect(c.securityContext?.capabilities?.add).toBeUndefined();
  });

  it('projects a ServiceAccount token for audience lanyard-ca and mounts the roots ConfigMap', () => {
    const volumes = injected('pod-create').spec?.volumes ?? [];
    expect(volumes).toEqual([
      {
        name: 'lanyard-token',
        projected: {
          sources: [
            { serviceAccountToken: { audience: 'lanyard-ca', expirationSeconds: 3600, path: 'token' } },
          ],
        },
      },
      {
        name: 'lanyard-roots',
        configMap: { name: 'lanyard-roots', items: [{ key: 'roots.pem', path: 'roots.pem' }] },
      },
    ]);
  });

  it('creates the annotations map when the pod has none, keeping other annotations otherwise', () => {
    expect(injected('pod-bare').metadata?.annotations).toEqual({ [INJECTED_ANNOTATION]: 'true' });
    expect(injected('pod-create', { rewriteProbes: false }).metadata?.annotations).toEqual({
      'example.com/owner': 'team-orders',
      [INJECTED_ANNOTATION]: 'true',
    });
  });

  it('leaves LANYARD_APP_PORT and the inbound redirect out for a pod without ports', () => {
    const pod = injected('pod-bare');
    expect(env(container(pod, 'lanyard-sidecar'))).not.toHaveProperty('LANYARD_APP_PORT');
    expect(container(pod, 'lanyard-init').args).toContain('--inbound-ports=');
  });

  it('takes the app port from the lanyard.dev/app-port annotation when given', () => {
    const pod = loadPod('pod-create');
    pod.metadata!.annotations!['lanyard.dev/app-port'] = '9090';
    const patched = applyPatch(pod, injectPod(pod, options).patch);
    expect(env(container(patched, 'lanyard-sidecar')).LANYARD_APP_PORT).toBe('9090');
  });

  it('is idempotent: a second pass, as under reinvocation, yields an empty patch', () => {
    const once = injected('pod-create');
    const again = injectPod(once, options);
    expect(again).toMatchObject({ patch: [], reason: 'already-injected' });
  });

  it('honours the opt-out label', () => {
    expect(injectPod(loadPod('pod-opted-out'), options)).toMatchObject({ patch: [], reason: 'opted-out' });
  });

  it('never injects a hostNetwork pod and records why, once', () => {
    const pod = loadPod('pod-host-network');
    const result = injectPod(pod, options);
    expect(result.reason).toBe('host-network');
    const patched = applyPatch(pod, result.patch);
    expect(patched.spec?.initContainers).toBeUndefined();
    expect(patched.spec?.volumes).toBeUndefined();
    expect(patched.metadata?.annotations?.[SKIPPED_ANNOTATION]).toMatch(/hostNetwork/);
    expect(injectPod(patched, options).patch).toEqual([]);
  });

  it('refuses to inject beside a container already named like ours', () => {
    const pod = loadPod('pod-name-conflict');
    const result = injectPod(pod, options);
    expect(result.reason).toBe('name-conflict');
    const patched = applyPatch(pod, result.patch);
    expect(patched.spec?.containers.map((c) => c.name)).toEqual(['orders', 'lanyard-sidecar']);
    expect(patched.spec?.initContainers).toBeUndefined();
  });

  it('rewrites HTTP probes to the admin port by default and records the originals', () => {
    const pod = injected('pod-create');
    const app = container(pod, 'orders');
    expect(app.readinessProbe).toEqual({
      httpGet: { path: '/app-health/orders/readyz', port: 15020, scheme: 'HTTP' },
      periodSeconds: 5,
    });
    expect(app.livenessProbe?.httpGet).toEqual({
      path: '/app-health/orders/livez',
      port: 15020,
      scheme: 'HTTP',
    });
    expect(app.startupProbe).toEqual({ tcpSocket: { port: 8080 } });
    expect(JSON.parse(pod.metadata?.annotations?.[PROBES_ANNOTATION] ?? '')).toEqual({
      '/app-health/orders/readyz': { port: 8080, path: '/ready', scheme: 'HTTP' },
      '/app-health/orders/livez': { port: 'http', path: '/live', scheme: 'HTTP' },
    });
  });

  it('tells the sidecar the original probes, named ports resolved, in LANYARD_APP_PROBES', () => {
    const sidecar = container(injected('pod-create'), 'lanyard-sidecar');
    expect(JSON.parse(String(env(sidecar).LANYARD_APP_PROBES))).toEqual({
      '/app-health/orders/readyz': { port: 8080, path: '/ready', scheme: 'HTTP' },
      '/app-health/orders/livez': { port: 8080, path: '/live', scheme: 'HTTP' },
    });
  });

  it("passes a probe's httpHeaders on to the sidecar, which sends them to the app", () => {
    const pod = loadPod('pod-create');
    container(pod, 'orders').readinessProbe!.httpGet!.httpHeaders = [
      { name: 'Host', value: 'orders.internal' },
      { name: 'X-Probe', value: '1' },
    ];
    const result = injectPod(pod, options);
    const sidecar = container(applyPatch(pod, result.patch), 'lanyard-sidecar');
    const probes = JSON.parse(String(env(sidecar).LANYARD_APP_PROBES)) as Record<string, unknown>;
    expect(probes['/app-health/orders/readyz']).toEqual({
      port: 8080,
      path: '/ready',
      scheme: 'HTTP',
      headers: [
        ['Host', 'orders.internal'],
        ['X-Probe', '1'],
      ],
    });
  });

  it('leaves probes alone with rewriteProbes: false, and sets no LANYARD_APP_PROBES', () => {
    const pod = injected('pod-create', { rewriteProbes: false });
    expect(container(pod, 'orders').readinessProbe?.httpGet).toEqual({ path: '/ready', port: 8080 });
    expect(env(container(pod, 'lanyard-sidecar')).LANYARD_APP_PROBES).toBeUndefined();
    expect(pod.metadata?.annotations?.[PROBES_ANNOTATION]).toBeUndefined();
  });

  it('leaves a probe of another host, or of a port the container does not name, alone', () => {
    const pod = loadPod('pod-create');
    const app = pod.spec!.containers[0]!;
    app.readinessProbe = { httpGet: { host: '10.0.0.9', path: '/ready', port: 8080 } };
    app.livenessProbe = { httpGet: { path: '/live', port: 'no-such-port' } };
    const patched = applyPatch(pod, injectPod(pod, options).patch);
    expect(container(patched, 'orders').readinessProbe).toEqual(app.readinessProbe);
    expect(container(patched, 'orders').livenessProbe).toEqual(app.livenessProbe);
    expect(env(container(patched, 'lanyard-sidecar')).LANYARD_APP_PROBES).toBeUndefined();
    expect(patched.metadata?.annotations?.[PROBES_ANNOTATION]).toBeUndefined();
  });

  it('checks its options at once', () => {
    expect(() => resolveInjectOptions({ ...options, image: '' })).toThrow(TypeError);
    expect(() => resolveInjectOptions({ ...options, controlPlaneAddress: 'no-port' })).toThrow(/host:port/);
    expect(() => resolveInjectOptions({ ...options, inboundPort: 70000 })).toThrow(/inboundPort/);
    expect(() => resolveInjectOptions({ ...options, tokenExpirationSeconds: 60 })).toThrow(/600/);
    expect(() => resolveInjectOptions({ ...options, excludeOutboundCidrs: ['10.0.0.0'] })).toThrow(/CIDR/);
  });
});
