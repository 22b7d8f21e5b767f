// The controller's configuration, read from the environment in this one place.
import { hostname } from 'node:os';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import { parseDuration } from '../lib/policy/duration.ts';
import { parseTrustDomain } from '../lib/spiffe.ts';

/** Hosting the injection webhook (LANYARD_WEBHOOK_PORT other than 0). */
export interface WebhookConfig {
  port: number;
  /** The MutatingWebhookConfiguration whose caBundle the leader keeps current. */
  configName: string;
  /** The Service in front of the webhook: the serving certificate's DNS names derive from it. */
  service: string;
  sidecarImage: string;
  sidecarImagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** What injected sidecars dial: host:port of the control plane's gRPC Service. */
  controlPlaneAddress: string;
  rewriteProbes: boolean;
}

/** Certificate and token lifetimes, in milliseconds. */
export interface TtlConfig {
  svidDefaultMs: number;
  svidMinMs: number;
  svidMaxMs: number;
  jwtSvidMs: number;
}

/** Serving the monitoring dashboard (LANYARD_DASHBOARD_PORT other than 0), on loopback only. */
export interface DashboardConfig {
  port: number;
  /** A file holding the login token (a mounted Secret); read at start. */
  tokenFile: string;
}

export interface ControllerConfig {
  trustDomain: string;
  /** The control plane's namespace (its CA Secret and Lease). */
  namespace: string;
  /** This replica's name, unique among replicas (the pod name). */
  identity: string;
  /** A kubeconfig path; unset means in-cluster. */
  kubeconfig?: string;
  grpcPort: number;
  /** HTTP port for /healthz, /ready, /metrics and OIDC discovery; 0 serves none. */
  httpPort: number;
  defaultAction: 'ALLOW' | 'DENY';
  rootNamespace: string;
  /** Unset when LANYARD_WEBHOOK_PORT is 0. */
  webhook?: WebhookConfig;
  evictPodsWithoutSidecar: boolean;
  ttl: TtlConfig;
  /** Unset when LANYARD_DASHBOARD_PORT is 0 (the default). */
  dashboard?: DashboardConfig;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The CA's own bounds on X.509-SVID lifetimes (ca/ttl.ts). */
const SVID_FLOOR_MS = MINUTE;
const SVID_CEILING_MS = 30 * 24 * HOUR;
const JWT_CEILING_MS = HOUR;

function invalid(message: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message);
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number, allowZero: boolean): number {
  const text = env[name];
  const value = text === undefined || text === '' ? fallback : Number(text);
  const floor = allowZero ? 0 : 1;
  if (!Number.isInteger(value) || value < floor || value > 65535) {
    invalid(`${name} must be a port (${floor}-65535), not "${text}"`);
  }
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (text !== 'true' && text !== 'false') invalid(`${name} must be true or false, not "${text}"`);
  return text === 'true';
}

function duration(env: NodeJS.ProcessEnv, name: string, fallback: string): number {
  const text = env[name] || fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    invalid(`${name} must be a positive duration such as 90s, 5m or 1h, not "${text}"`);
  }
  return ms;
}

/** Reads the TTL settings; the SVID bounds must hold min <= default <= max. */
export function loadTtlConfig(env: NodeJS.ProcessEnv = process.env): TtlConfig {
  const ttl = {
    svidDefaultMs: duration(env, 'LANYARD_SVID_TTL', '1h'),
    svidMinMs: duration(env, 'LANYARD_SVID_MIN_TTL', '5m'),
    svidMaxMs: duration(env, 'LANYARD_SVID_MAX_TTL', '24h'),
    jwtSvidMs: duration(env, 'LANYARD_JWT_SVID_TTL', '5m'),
  };
  if (ttl.svidMinMs < SVID_FLOOR_MS) invalid('LANYARD_SVID_MIN_TTL must be at least 1m');
  if (ttl.svidMaxMs > SVID_CEILING_MS) invalid('LANYARD_SVID_MAX_TTL must be at most 720h (30 days)');
  if (ttl.svidMinMs > ttl.svidDefaultMs) {
    invalid('LANYARD_SVID_MIN_TTL must not exceed LANYARD_SVID_TTL (min <= default <= max)');
  }
  if (ttl.svidDefaultMs > ttl.svidMaxMs) {
    invalid('LANYARD_SVID_TTL must not exceed LANYARD_SVID_MAX_TTL (min <= default <= max)');
  }
  if (ttl.jwtSvidMs > JWT_CEILING_MS) invalid('LANYARD_JWT_SVID_TTL must be at most 1h');
  return ttl;
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

function loadWebhookConfig(
  env: NodeJS.ProcessEnv,
  namespace: string,
  grpcPort: number,
): WebhookConfig | undefined {
  const webhookPort = port(env, 'LANYARD_WEBHOOK_PORT', 15017, true);
  if (webhookPort === 0) return undefined;
  const sidecarImage = env.LANYARD_SIDECAR_IMAGE ?? '';
  if (sidecarImage === '') {
    invalid(
      'LANYARD_SIDECAR_IMAGE is required while the injection webhook is enabled (LANYARD_WEBHOOK_PORT=0 disables it)',
    );
  }
  const pullPolicy = env.LANYARD_SIDECAR_IMAGE_PULL_POLICY || undefined;
  if (pullPolicy !== undefined && !(PULL_POLICIES as readonly string[]).includes(pullPolicy)) {
    invalid(
      `LANYARD_SIDECAR_IMAGE_PULL_POLICY must be one of ${PULL_POLICIES.join(', ')}, not "${pullPolicy}"`,
    );
  }
  const controlPlaneAddress =
    env.LANYARD_CONTROL_PLANE_ADDRESS || `lanyard-controller.${namespace}.svc:${grpcPort}`;
  if (!/^[^\s:/]+:\d{1,5}$/.test(controlPlaneAddress)) {
    invalid(`LANYARD_CONTROL_PLANE_ADDRESS must be host:port, not "${controlPlaneAddress}"`);
  }
  const name = (variable: string, fallback: string) => {
    const value = env[variable] || fallback;
    // Both name Kubernetes objects: DNS-1123 names.
    if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(value)) {
      invalid(`${variable} must be a Kubernetes object name, not "${value}"`);
    }
    return value;
  };
  return {
    port: webhookPort,
    configName: name('LANYARD_WEBHOOK_CONFIG_NAME', 'lanyard-injector'),
    service: name('LANYARD_WEBHOOK_SERVICE', 'lanyard-webhook'),
    sidecarImage,
    ...(pullPolicy ? { sidecarImagePullPolicy: pullPolicy as WebhookConfig['sidecarImagePullPolicy'] } : {}),
    controlPlaneAddress,
    rewriteProbes: flag(env, 'LANYARD_INJECT_REWRITE_PROBES', true),
  };
}

/** The dashboard is off unless a port is given; it then needs LANYARD_DASHBOARD_TOKEN_FILE. */
export function loadDashboardConfig(env: NodeJS.ProcessEnv = process.env): DashboardConfig | undefined {
  const dashboardPort = port(env, 'LANYARD_DASHBOARD_PORT', 0, true);
  if (dashboardPort === 0) return undefined;
  const tokenFile = env.LANYARD_DASHBOARD_TOKEN_FILE ?? '';
  if (tokenFile === '') {
    invalid(
      'LANYARD_DASHBOARD_TOKEN_FILE is required while the dashboard is enabled (LANYARD_DASHBOARD_PORT=0 disables it)',
    );
  }
  return { port: dashboardPort, tokenFile };
}

export function loadControllerConfig(env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const defaultAction = env.LANYARD_DEFAULT_ACTION ?? 'ALLOW';
  if (defaultAction !== 'ALLOW' && defaultAction !== 'DENY') {
    invalid(`LANYARD_DEFAULT_ACTION must be ALLOW or DENY, not "${defaultAction}"`);
  }
  const grpcPort = port(env, 'LANYARD_GRPC_PORT', 15012, false);
  const namespace = env.POD_NAMESPACE ?? env.LANYARD_NAMESPACE ?? 'lanyard-system';
  const webhook = loadWebhookConfig(env, namespace, grpcPort);
  const dashboard = loadDashboardConfig(env);
  return {
    trustDomain: parseTrustDomain(env.LANYARD_TRUST_DOMAIN ?? 'cluster.local'),
    namespace,
    identity: env.POD_NAME ?? hostname(),
    ...(env.KUBECONFIG ? { kubeconfig: env.KUBECONFIG } : {}),
    grpcPort,
    httpPort: port(env, 'LANYARD_HTTP_PORT', 15014, true),
    defaultAction,
    rootNamespace: env.LANYARD_ROOT_NAMESPACE ?? namespace,
    ...(webhook ? { webhook } : {}),
    evictPodsWithoutSidecar: flag(env, 'LANYARD_EVICT_PODS_WITHOUT_SIDECAR', false),
    ttl: loadTtlConfig(env),
    ...(dashboard && { dashboard }),
  };
}
