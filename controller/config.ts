// The controller's configuration, read from the environment in this one place.
import { hostname } from 'node:os';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import { parseDuration } from '../lib/policy/duration.ts';
import { parseTrustDomain } from '../lib/spiffe.ts';
import {
  DEFAULT_DETECTOR_CONFIG,
  resolveDetectorConfig,
  type DetectionKind,
  type DetectorConfig,
  type ThresholdConfig,
} from './monitor/detectors.ts';

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

/** Authentication monitoring: detector bounds, automatic blocks, the detection webhook. */
export interface MonitorConfig {
  detectors: DetectorConfig;
  /** Unset when LANYARD_MONITOR_AUTOBLOCK_KINDS names no kind. */
  autoBlock?: { kinds: DetectionKind[]; ttlMs: number };
  /** Unset when LANYARD_MONITOR_WEBHOOK_URL is empty. `headers` carries the secret: never log it. */
  webhook?: { url: string; headers?: Record<string, string> };
  /**
   * Where source addresses get their countries (token-countries detector): `off`, or mmdb files
   * (empty: the packaged GeoLite2 city data, lib/geo.ts).
   */
  geoip: 'off' | string[];
  /** Set when LANYARD_MONITOR_IDP_TOKEN_FILE names the file of the IdP notice receiver's token. */
  idpNotices?: { tokenFile: string };
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
  monitor: MonitorConfig;
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

// One env pair per detector: LANYARD_MONITOR_<NAME>_THRESHOLD and LANYARD_MONITOR_<NAME>_WINDOW.
const DETECTOR_ENV = {
  denialSpike: 'DENIAL_SPIKE',
  tokenSpread: 'TOKEN_SPREAD',
  tokenCountries: 'TOKEN_COUNTRIES',
  badTokens: 'BAD_TOKENS',
} as const;
const BLOCKING_KINDS: readonly DetectionKind[] = [
  'denial-spike',
  'token-spread',
  'token-countries',
  'idp-impossible-travel',
];
// Their subject is a source address, which sidecars do not block.
const SOURCE_KINDS: readonly string[] = ['bad-tokens', 'idp-credential-stuffing'];
const MAX_THRESHOLD = 100_000;
const MAX_DETECTOR_WINDOW_MS = 24 * HOUR;
const MAX_BLOCK_TTL_MS = 7 * 24 * HOUR;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
// Visible ASCII, spaces and tabs: no CR or LF that could split the request.
const HEADER_VALUE = /^[\x20-\x7e\t]{1,4096}$/;

function detectorEnv(env: NodeJS.ProcessEnv, key: keyof typeof DETECTOR_ENV): ThresholdConfig {
  const prefix = `LANYARD_MONITOR_${DETECTOR_ENV[key]}`;
  const fallback = DEFAULT_DETECTOR_CONFIG[key];
  const thresholdText = env[`${prefix}_THRESHOLD`] || String(fallback.threshold);
  const threshold = Number(thresholdText);
  if (!/^\d{1,6}$/.test(thresholdText) || threshold < 2 || threshold > MAX_THRESHOLD) {
    invalid(`${prefix}_THRESHOLD must be a whole number from 2 to ${MAX_THRESHOLD}, not "${thresholdText}"`);
  }
  const windowText = env[`${prefix}_WINDOW`] || '';
  const windowMs = windowText === '' ? fallback.windowMs : parseDuration(windowText);
  if (windowMs === undefined || windowMs < 1000 || windowMs > MAX_DETECTOR_WINDOW_MS) {
    invalid(`${prefix}_WINDOW must be a duration from 1s to 24h such as 30s, 5m or 1h, not "${windowText}"`);
  }
  return { threshold, windowMs };
}

/** Reads the LANYARD_MONITOR_* settings, strictly: any bad value is an error at start. */
export function loadMonitorConfig(env: NodeJS.ProcessEnv = process.env): MonitorConfig {
  const detectors = resolveDetectorConfig({
    denialSpike: detectorEnv(env, 'denialSpike'),
    tokenSpread: detectorEnv(env, 'tokenSpread'),
    tokenCountries: detectorEnv(env, 'tokenCountries'),
    badTokens: { ...DEFAULT_DETECTOR_CONFIG.badTokens, ...detectorEnv(env, 'badTokens') },
  });

  const kindsText = (env.LANYARD_MONITOR_AUTOBLOCK_KINDS ?? '').trim();
  const kinds: DetectionKind[] = [];
  for (const item of kindsText === '' ? [] : kindsText.split(',').map((kind) => kind.trim())) {
    if (SOURCE_KINDS.includes(item)) {
      invalid(
        `LANYARD_MONITOR_AUTOBLOCK_KINDS: ${item} detections name a source address, which sidecars do not block`,
      );
    }
    if (!(BLOCKING_KINDS as readonly string[]).includes(item)) {
      invalid(
        `LANYARD_MONITOR_AUTOBLOCK_KINDS must list kinds among ${BLOCKING_KINDS.join(', ')} (comma-separated), not "${item.slice(0, 64)}"`,
      );
    }
    if (!kinds.includes(item as DetectionKind)) kinds.push(item as DetectionKind);
  }
  const ttlText = env.LANYARD_MONITOR_AUTOBLOCK_TTL || '15m';
  const ttlMs = parseDuration(ttlText);
  if (ttlMs === undefined || ttlMs < 1000 || ttlMs > MAX_BLOCK_TTL_MS) {
    invalid(`LANYARD_MONITOR_AUTOBLOCK_TTL must be a duration from 1s to 168h (7 days), not "${ttlText}"`);
  }

  return {
    detectors,
    ...(kinds.length > 0 && { autoBlock: { kinds, ttlMs } }),
    ...loadMonitorWebhook(env),
    geoip: loadGeoip(env.LANYARD_MONITOR_GEOIP ?? ''),
    ...loadIdpNotices(env),
  };
}

/** LANYARD_MONITOR_IDP_TOKEN_FILE: an absolute path; the file is read when the controller starts. */
function loadIdpNotices(env: NodeJS.ProcessEnv): Pick<MonitorConfig, 'idpNotices'> {
  const tokenFile = (env.LANYARD_MONITOR_IDP_TOKEN_FILE ?? '').trim();
  if (tokenFile === '') return {};
  if (!tokenFile.startsWith('/') || tokenFile.length > 1024 || /\p{Cc}/u.test(tokenFile)) {
    invalid('LANYARD_MONITOR_IDP_TOKEN_FILE must be an absolute file path');
  }
  return { idpNotices: { tokenFile } };
}

/** LANYARD_MONITOR_GEOIP: `builtin` (or empty), `off`, or comma-separated absolute mmdb paths. */
function loadGeoip(text: string): MonitorConfig['geoip'] {
  const value = text.trim();
  if (value === '' || value === 'builtin') return [];
  if (value === 'off') return 'off';
  const files = value.split(',').map((file) => file.trim());
  if (files.length > 8 || files.some((file) => !file.startsWith('/') || /\p{Cc}/u.test(file))) {
    invalid('LANYARD_MONITOR_GEOIP must be builtin, off, or up to 8 comma-separated absolute mmdb paths');
  }
  return files;
}

function loadMonitorWebhook(env: NodeJS.ProcessEnv): Pick<MonitorConfig, 'webhook'> {
  const urlText = env.LANYARD_MONITOR_WEBHOOK_URL ?? '';
  const header = env.LANYARD_MONITOR_WEBHOOK_SECRET_HEADER ?? '';
  const secret = env.LANYARD_MONITOR_WEBHOOK_SECRET ?? '';
  if (urlText === '') {
    if (header !== '' || secret !== '') {
      invalid('LANYARD_MONITOR_WEBHOOK_SECRET_HEADER and _SECRET need LANYARD_MONITOR_WEBHOOK_URL');
    }
    return {};
  }
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    invalid('LANYARD_MONITOR_WEBHOOK_URL must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    invalid('LANYARD_MONITOR_WEBHOOK_URL must be an http(s) URL');
  }
  // The URL is shown in logs and in the Deployment; a credential belongs in the secret header.
  if (url.username !== '' || url.password !== '' || urlText.length > 2048) {
    invalid(
      'LANYARD_MONITOR_WEBHOOK_URL must be at most 2048 characters with no user:password (put credentials in LANYARD_MONITOR_WEBHOOK_SECRET)',
    );
  }
  if ((header === '') !== (secret === '')) {
    invalid('LANYARD_MONITOR_WEBHOOK_SECRET_HEADER and LANYARD_MONITOR_WEBHOOK_SECRET go together');
  }
  if (header === '') return { webhook: { url: url.href } };
  if (!HEADER_NAME.test(header)) {
    invalid(
      `LANYARD_MONITOR_WEBHOOK_SECRET_HEADER must be an HTTP header name, not "${header.slice(0, 64)}"`,
    );
  }
  // Never echo the secret itself.
  if (!HEADER_VALUE.test(secret)) {
    invalid('LANYARD_MONITOR_WEBHOOK_SECRET must be 1 to 4096 printable ASCII characters (no line breaks)');
  }
  if (url.protocol !== 'https:') {
    invalid('LANYARD_MONITOR_WEBHOOK_URL must be https when a secret header is sent');
  }
  return { webhook: { url: url.href, headers: { [header]: secret } } };
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
  const httpPort = port(env, 'LANYARD_HTTP_PORT', 15014, true);
  const monitor = loadMonitorConfig(env);
  if (monitor.idpNotices && httpPort === 0) {
    invalid('LANYARD_MONITOR_IDP_TOKEN_FILE needs the HTTP port (LANYARD_HTTP_PORT other than 0)');
  }
  return {
    trustDomain: parseTrustDomain(env.LANYARD_TRUST_DOMAIN ?? 'cluster.local'),
    namespace,
    identity: env.POD_NAME ?? hostname(),
    ...(env.KUBECONFIG ? { kubeconfig: env.KUBECONFIG } : {}),
    grpcPort,
    httpPort,
    defaultAction,
    rootNamespace: env.LANYARD_ROOT_NAMESPACE ?? namespace,
    ...(webhook ? { webhook } : {}),
    evictPodsWithoutSidecar: flag(env, 'LANYARD_EVICT_PODS_WITHOUT_SIDECAR', false),
    ttl: loadTtlConfig(env),
    monitor,
    ...(dashboard && { dashboard }),
  };
}
