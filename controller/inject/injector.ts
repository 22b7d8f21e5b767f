// The sidecar injector: a pure function from a Pod to the JSON Patch (RFC 6902) that adds the
// Lanyard sidecar, the iptables init container and their volumes. No I/O: the admission
// webhook, and later `lanyard inject -f`, wrap it.
import type { V1Container, V1Pod, V1Probe, V1Volume } from '@kubernetes/client-node';

export const INJECT_LABEL = 'lanyard.dev/inject';
export const INJECTED_ANNOTATION = 'lanyard.dev/injected';
export const SKIPPED_ANNOTATION = 'lanyard.dev/injection-skipped';
export const PROBES_ANNOTATION = 'lanyard.dev/original-probes';
export const APP_PORT_ANNOTATION = 'lanyard.dev/app-port';

export const SIDECAR_CONTAINER = 'lanyard-sidecar';
export const INIT_CONTAINER = 'lanyard-init';
export const TOKEN_VOLUME = 'lanyard-token';
export const ROOTS_VOLUME = 'lanyard-roots';
export const TOKEN_DIR = '/var/run/secrets/lanyard';
export const ROOTS_DIR = '/var/run/lanyard/roots';
export const ROOTS_CONFIGMAP = 'lanyard-roots';
export const ROOTS_KEY = 'roots.pem';
export const TOKEN_AUDIENCE = 'lanyard-ca';
export const PROXY_UID = 1337;
/**
 * Node.js flags of the sidecar (docs/sidecar.md, Memory), each measured to cost no CPU per request:
 * - V8 grows each of the young generation's two semi-spaces to 16 MB under load, and a sidecar
 *   keeps that memory; 2 MB holds a sidecar's short-lived garbage (a few hundred requests);
 * - V8's background threads (concurrent marking, optimizing compiles) each keep a malloc arena
 *   of 1.5 to 2 MB once busy: one thread instead of four is 4 to 5 MB less under load;
 * - after a full collection V8 lets the old generation grow by up to 4 times what survived before
 *   the next one, and under sustained load a sidecar's heap went from 11 to 45 MB before it came
 *   back to 18; growing by half at most keeps the peak 15 MB lower (a full collection then comes
 *   every few seconds under load, at a few milliseconds each).
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = Object.freeze([
  '--max-semi-space-size=2',
  '--v8-pool-size=1',
  '--heap-growing-percent=50',
]);

export interface JsonPatchOp {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

export interface ResourceRequirements {
  requests: Record<string, string>;
  limits: Record<string, string>;
}

export interface InjectOptions {
  /** The image that holds the `lanyard` binary (sidecar and init container). */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** host:port of the control plane's gRPC port, as the sidecar dials it. */
  controlPlaneAddress: string;
  /** Pins the control plane's SPIFFE ID; unset lets the sidecar use its default. */
  controlPlaneId?: string;
  trustDomain: string;
  inboundPort?: number;
  outboundPort?: number;
  adminPort?: number;
  /** Outbound destination ports that bypass the sidecar. */
  excludeOutboundPorts?: readonly number[];
  /** Outbound destination CIDRs that bypass the sidecar. */
  excludeOutboundCidrs?: readonly string[];
  /** Inbound ports that reach the app directly. */
  excludeInboundPorts?: readonly number[];
  resources?: ResourceRequirements;
  tokenExpirationSeconds?: number;
  /**
   * Points HTTP probes at the sidecar admin port (under /app-health/<container>/<probe>) so the
   * kubelet's plaintext probes are not refused by STRICT mTLS; the sidecar forwards each to the
   * original probe (LANYARD_APP_PROBES). Default true.
   */
  rewriteProbes?: boolean;
}

export type InjectReason = 'injected' | 'already-injected' | 'opted-out' | 'host-network' | 'name-conflict';

export interface InjectResult {
  patch: JsonPatchOp[];
  reason: InjectReason;
  /** A sentence for the AdmissionReview response and the logs. */
  message: string;
}

export const DEFAULT_RESOURCES: ResourceRequirements = Object.freeze({
  requests: Object.freeze({ cpu: '50m', memory: '64Mi' }),
  limits: Object.freeze({ memory: '256Mi' }),
});

interface Resolved {
  image: string;
  imagePullPolicy: string;
  controlPlaneAddress: string;
  controlPlaneId: string | undefined;
  trustDomain: string;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  excludeOutboundPorts: readonly number[];
  excludeOutboundCidrs: readonly string[];
  excludeInboundPorts: readonly number[];
  resources: ResourceRequirements;
  tokenExpirationSeconds: number;
  rewriteProbes: boolean;
}

function checkPort(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new TypeError(`${name} must be a port (1-65535), not ${value}`);
  }
  return value;
}

const CIDR = /^[0-9a-fA-F.:]+\/\d{1,3}$/;

/** Checks and completes the options once; misuse throws a TypeError at once. */
export function resolveInjectOptions(options: InjectOptions): Readonly<Resolved> {
  if (!options.image) throw new TypeError('image is required');
  if (!/^[^\s:]+:\d{1,5}$/.test(options.controlPlaneAddress ?? '')) {
    throw new TypeError(`controlPlaneAddress must be host:port, not "${options.controlPlaneAddress}"`);
  }
  if (!/^[a-z0-9._-]+$/.test(options.trustDomain ?? '')) {
    throw new TypeError(`trustDomain "${options.trustDomain}" is not a trust domain`);
  }
  const tokenExpirationSeconds = options.tokenExpirationSeconds ?? 3600;
  // The API server refuses projected tokens shorter than 10 minutes.
  if (!Number.isInteger(tokenExpirationSeconds) || tokenExpirationSeconds < 600) {
    throw new TypeError('tokenExpirationSeconds must be an integer of at least 600');
  }
  for (const cidr of options.excludeOutboundCidrs ?? []) {
    if (!CIDR.test(cidr)) throw new TypeError(`excludeOutboundCidrs: "${cidr}" is not a CIDR`);
  }
  return Object.freeze({
    image: options.image,
    imagePullPolicy: options.imagePullPolicy ?? 'IfNotPresent',
    controlPlaneAddress: options.controlPlaneAddress,
    controlPlaneId: options.controlPlaneId,
    trustDomain: options.trustDomain,
    inboundPort: checkPort('inboundPort', options.inboundPort ?? 15006),
    outboundPort: checkPort('outboundPort', options.outboundPort ?? 15001),
    adminPort: checkPort('adminPort', options.adminPort ?? 15020),
    excludeOutboundPorts: (options.excludeOutboundPorts ?? []).map((p) =>
      checkPort('excludeOutboundPorts', p),
    ),
    excludeOutboundCidrs: [...(options.excludeOutboundCidrs ?? [])],
    excludeInboundPorts: (options.excludeInboundPorts ?? []).map((p) => checkPort('excludeInboundPorts', p)),
    resources: options.resources ?? DEFAULT_RESOURCES,
    tokenExpirationSeconds,
    rewriteProbes: options.rewriteProbes ?? true,
  });
}

/** RFC 6901: `~` and `/` in a key are escaped in a JSON Pointer. */
function pointerKey(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The TCP ports the app containers declare, in order, without duplicates. */
function appPorts(pod: V1Pod): number[] {
  const ports = new Set<number>();
  for (const container of pod.spec?.containers ?? []) {
    for (const port of container.ports ?? []) {
      if ((port.protocol ?? 'TCP') === 'TCP' && Number.isInteger(port.containerPort))
        ports.add(port.containerPort);
    }
  }
  return [...ports];
}

function appPort(pod: V1Pod, ports: readonly number[]): number | undefined {
  const annotated = Number(pod.metadata?.annotations?.[APP_PORT_ANNOTATION]);
  if (Number.isInteger(annotated) && annotated >= 1 && annotated <= 65535) return annotated;
  return ports[0];
}

function initContainer(o: Resolved, inboundPorts: readonly number[]): V1Container {
  const args = [
    'init-iptables',
    `--proxy-uid=${PROXY_UID}`,
    `--inbound-proxy-port=${o.inboundPort}`,
    `--outbound-proxy-port=${o.outboundPort}`,
    `--inbound-ports=${inboundPorts.join(',')}`,
    `--exclude-inbound-ports=${[o.adminPort, ...o.excludeInboundPorts].join(',')}`,
    `--exclude-outbound-ports=${o.excludeOutboundPorts.join(',')}`,
    `--exclude-outbound-cidrs=${o.excludeOutboundCidrs.join(',')}`,
  ];
  return {
    name: INIT_CONTAINER,
    image: o.image,
    imagePullPolicy: o.imagePullPolicy,
    // The image's entrypoint, spelled out: a command replaces it, and the image has no
    // `lanyard` on PATH.
    command: ['node', 'bin/lanyard.js'],
    args,
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
    securityContext: {
      // iptables needs root and these two capabilities; nothing else in the pod gets them.
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}

function sidecarContainer(o: Resolved, port: number | undefined, probes: AppProbes): V1Container {
  const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const env = [
    { name: 'LANYARD_CONTROL_PLANE', value: o.controlPlaneAddress },
    ...(o.controlPlaneId ? [{ name: 'LANYARD_CONTROL_PLANE_ID', value: o.controlPlaneId }] : []),
    { name: 'LANYARD_TRUST_DOMAIN', value: o.trustDomain },
    { name: 'LANYARD_ROOTS_FILE', value: `${ROOTS_DIR}/${ROOTS_KEY}` },
    { name: 'LANYARD_TOKEN_PATH', value: `${TOKEN_DIR}/token` },
    fieldEnv('LANYARD_POD_NAME', 'metadata.name'),
    fieldEnv('LANYARD_POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('LANYARD_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    ...(port === undefined ? [] : [{ name: 'LANYARD_APP_PORT', value: String(port) }]),
    { name: 'LANYARD_INBOUND_PORT', value: String(o.inboundPort) },
    { name: 'LANYARD_OUTBOUND_PORT', value: String(o.outboundPort) },
    { name: 'LANYARD_ADMIN_PORT', value: String(o.adminPort) },
    ...(Object.keys(probes).length === 0
      ? []
      : [{ name: 'LANYARD_APP_PROBES', value: JSON.stringify(probes) }]),
  ];
  const ready: V1Probe = {
    httpGet: { path: '/ready', port: o.adminPort },
    periodSeconds: 2,
    failureThreshold: 3,
  };
  return {
    name: SIDECAR_CONTAINER,
    image: o.image,
    imagePullPolicy: o.imagePullPolicy,
    // A native sidecar: started before the app containers and kept running beside them.
    restartPolicy: 'Always',
    // node itself, not the image's entrypoint, so that the flags reach V8; the path is the
    // entrypoint's, relative to the image's working directory.
    command: ['node', ...SIDECAR_NODE_FLAGS, 'bin/lanyard.js'],
    args: ['sidecar'],
    env,
    ports: [
      { name: 'lanyard-in', containerPort: o.inboundPort, protocol: 'TCP' },
      { name: 'lanyard-admin', containerPort: o.adminPort, protocol: 'TCP' },
    ],
    // The kubelet starts the app only once the startup probe passes: the SVID is in hand.
    startupProbe: { httpGet: { path: '/ready', port: o.adminPort }, periodSeconds: 1, failureThreshold: 300 },
    readinessProbe: ready,
    livenessProbe: {
      httpGet: { path: '/healthz', port: o.adminPort },
      periodSeconds: 10,
      failureThreshold: 3,
    },
    resources: { requests: { ...o.resources.requests }, limits: { ...o.resources.limits } },
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: ROOTS_VOLUME, mountPath: ROOTS_DIR, readOnly: true },
    ],
  };
}

function volumes(o: Resolved): V1Volume[] {
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: TOKEN_AUDIENCE,
              expirationSeconds: o.tokenExpirationSeconds,
              path: 'token',
            },
          },
        ],
      },
    },
    {
      name: ROOTS_VOLUME,
      configMap: { name: ROOTS_CONFIGMAP, items: [{ key: ROOTS_KEY, path: ROOTS_KEY }] },
    },
  ];
}

const PROBE_KINDS = [
  ['livenessProbe', 'livez'],
  ['readinessProbe', 'readyz'],
  ['startupProbe', 'startupz'],
] as const;

/** A probe's httpHeaders as [name, value] pairs, in order (the kubelet's own field). */
type ProbeHeaders = [string, string][];
/** Original probe target, keyed by the admin path that now stands for it. */
export type OriginalProbes = Record<
  string,
  { port: number | string; path: string; scheme: string; headers?: ProbeHeaders }
>;
/** The same with named ports resolved: what the sidecar reads from LANYARD_APP_PROBES. */
export type AppProbes = Record<
  string,
  { port: number; path: string; scheme: string; headers?: ProbeHeaders }
>;

/** A probe's port as a number: named ports are looked up among the container's own. */
function probePort(container: V1Container, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function rewriteProbes(
  pod: V1Pod,
  o: Resolved,
): { ops: JsonPatchOp[]; originals: OriginalProbes; probes: AppProbes } {
  const ops: JsonPatchOp[] = [];
  const originals: OriginalProbes = {};
  const probes: AppProbes = {};
  (pod.spec?.containers ?? []).forEach((container, index) => {
    for (const [field, suffix] of PROBE_KINDS) {
      const probe = container[field];
      // A probe of another host is not the app's to answer; one whose port the pod does not
      // name is broken already: both stay as they are.
      if (!probe?.httpGet || probe.httpGet.host) continue;
      const { port, path: original, scheme, httpHeaders } = probe.httpGet;
      const number = probePort(container, port);
      if (number === undefined) continue;
      const path = `/app-health/${container.name}/${suffix}`;
      // The app may need them (a Host for virtual hosting, a probe token): the sidecar sends them.
      const headers: ProbeHeaders = (httpHeaders ?? []).map((h) => [h.name, h.value]);
      const extra = headers.length > 0 ? { headers } : {};
      originals[path] = { port, path: original ?? '/', scheme: scheme ?? 'HTTP', ...extra };
      probes[path] = { port: number, path: original ?? '/', scheme: scheme ?? 'HTTP', ...extra };
      ops.push({
        op: 'replace',
        path: `/spec/containers/${index}/${field}/httpGet`,
        value: { path, port: o.adminPort, scheme: 'HTTP' },
      });
    }
  });
  return { ops, originals, probes };
}

function annotationOps(pod: V1Pod, annotations: Record<string, string>): JsonPatchOp[] {
  if (!pod.metadata?.annotations) {
    const base: JsonPatchOp[] = pod.metadata ? [] : [{ op: 'add', path: '/metadata', value: {} }];
    return [...base, { op: 'add', path: '/metadata/annotations', value: annotations }];
  }
  return Object.entries(annotations).map(([key, value]) => ({
    op: 'add' as const,
    path: `/metadata/annotations/${pointerKey(key)}`,
    value,
  }));
}

function appendOps(
  path: string,
  existing: readonly unknown[] | undefined,
  items: readonly unknown[],
): JsonPatchOp[] {
  if (existing === undefined) return [{ op: 'add', path, value: [...items] }];
  return items.map((value) => ({ op: 'add' as const, path: `${path}/-`, value }));
}

/**
 * Decides whether the pod gets a sidecar and returns the patch that adds it. Namespace opt-in is
 * the webhook configuration's job (its selectors choose which pods reach the webhook); here a
 * pod label `lanyard.dev/inject=disabled` opts out, and pods already injected, on the host
 * network, or holding a container named like ours are left alone.
 */
export function injectPod(pod: V1Pod, options: InjectOptions): InjectResult {
  const o = resolveInjectOptions(options);
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations[INJECTED_ANNOTATION] !== undefined || annotations[SKIPPED_ANNOTATION] !== undefined) {
    return {
      patch: [],
      reason: 'already-injected',
      message: 'the pod was already seen by the Lanyard injector',
    };
  }
  if (pod.metadata?.labels?.[INJECT_LABEL] === 'disabled') {
    return { patch: [], reason: 'opted-out', message: `the pod is labelled ${INJECT_LABEL}=disabled` };
  }
  if (pod.spec?.hostNetwork) {
    return {
      patch: annotationOps(pod, { [SKIPPED_ANNOTATION]: 'hostNetwork: iptables would redirect the node' }),
      reason: 'host-network',
      message: 'pods on the host network are never injected',
    };
  }
  const spec = pod.spec ?? { containers: [] };
  const taken = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].find(
    (c) => c.name === SIDECAR_CONTAINER || c.name === INIT_CONTAINER,
  );
  if (taken) {
    return {
      patch: annotationOps(pod, { [SKIPPED_ANNOTATION]: `a container is already named ${taken.name}` }),
      reason: 'name-conflict',
      message: `the pod already has a container named ${taken.name}; not injected`,
    };
  }

  const ports = appPorts(pod);
  const port = appPort(pod, ports);
  const patch: JsonPatchOp[] = [];
  const rewritten = o.rewriteProbes ? rewriteProbes(pod, o) : { ops: [], originals: {}, probes: {} };
  const ours = [initContainer(o, ports), sidecarContainer(o, port, rewritten.probes)];
  // Both go first: iptables before anything else starts, and the proxy before any other init
  // container, whose traffic is already redirected.
  if (spec.initContainers === undefined) {
    patch.push({ op: 'add', path: '/spec/initContainers', value: ours });
  } else {
    patch.push({ op: 'add', path: '/spec/initContainers/0', value: ours[0] });
    patch.push({ op: 'add', path: '/spec/initContainers/1', value: ours[1] });
  }
  patch.push(...appendOps('/spec/volumes', spec.volumes, volumes(o)));

  const added: Record<string, string> = { [INJECTED_ANNOTATION]: 'true' };
  patch.push(...rewritten.ops);
  if (rewritten.ops.length > 0) added[PROBES_ANNOTATION] = JSON.stringify(rewritten.originals);
  patch.push(...annotationOps(pod, added));
  return { patch, reason: 'injected', message: 'Lanyard sidecar injected' };
}
