// The sidecar's configuration: read from the environment in this one place, checked once, with
// documented defaults. The injection webhook (or `lanyard dev`) sets these variables.
import { readFileSync } from 'node:fs';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import { parseSpiffeId, parseTrustDomain } from '../lib/spiffe.ts';
import { parseAppProbes, type AppProbe } from './app-health.ts';
import type { Destination } from './outbound.ts';
import { parseOutOfMeshRoute, type OutboundRoute } from './out-of-mesh.ts';

export interface SidecarConfig {
  trustDomain: string;
  /** host:port of the control plane (CA and policy stream). */
  controlPlaneAddress: string;
  /** The control plane's SPIFFE ID, which its serving certificate must carry. */
  controlPlaneId: string;
  /** PEM roots trusted before the first bundle arrives. */
  bootstrapRootsPem: string;
  podName: string;
  /** A projected ServiceAccount token file (re-read before each CA call) or a join token. */
  credential: { kind: 'token-file'; path: string } | { kind: 'join-token'; token: string };
  /** The app's port; absent for a client-only workload (Jobs, pods without ports): no inbound then. */
  appPort?: number;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  /** Address the inbound and admin listeners bind to. */
  bindAddress: string;
  /** Outbound routes: Host header (host:port) to the destination sidecar, or out of the mesh. */
  routes: ReadonlyMap<string, OutboundRoute>;
  /** The app's HTTP probes, by the admin path that stands for each (LANYARD_APP_PROBES). */
  appProbes?: ReadonlyMap<string, AppProbe>;
  /** Extra trust anchors (PEM) for end-user JWKS servers; the system roots otherwise. */
  jwksCaPem?: string;
}

function invalid(message: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message);
}

function port(env: NodeJS.ProcessEnv, name: string, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback === undefined) invalid(`${name} is required`);
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    invalid(`${name} must be a port (1-65535), not "${raw}"`);
  return value;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) invalid(`${name} is required`);
  return value;
}

/**
 * Routes file: {"orders.shop:80": {"address": "127.0.0.1", "port": 15006, "spiffeId": "spiffe://…"},
 * "api.partner.example:80": {"outOfMesh": {"audience": "https://api.partner.example"}}}.
 */
export function parseRoutes(text: string): Map<string, OutboundRoute> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    invalid('LANYARD_ROUTES_FILE is not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) invalid('routes must be a JSON object');
  const routes = new Map<string, OutboundRoute>();
  for (const [host, value] of Object.entries(parsed as Record<string, unknown>)) {
    const route = value as Partial<Destination & { outOfMesh: unknown }> | null;
    if (!/^[a-z0-9.-]+:\d{1,5}$/.test(host)) invalid(`route key "${host}" must be host:port in lowercase`);
    if (route && typeof route === 'object' && 'outOfMesh' in route) {
      if (Object.keys(route).length !== 1) invalid(`route "${host}": outOfMesh stands alone`);
      routes.set(host, parseOutOfMeshRoute(host, route.outOfMesh));
      continue;
    }
    if (
      !route ||
      typeof route.address !== 'string' ||
      typeof route.port !== 'number' ||
      typeof route.spiffeId !== 'string'
    ) {
      invalid(`route "${host}" needs address, port and spiffeId (or outOfMesh)`);
    }
    parseSpiffeId(route.spiffeId);
    routes.set(host, { address: route.address, port: route.port, spiffeId: route.spiffeId });
  }
  return routes;
}

export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const trustDomain = parseTrustDomain(env.LANYARD_TRUST_DOMAIN ?? 'cluster.local');
  const controlPlaneId =
    env.LANYARD_CONTROL_PLANE_ID ?? `spiffe://${trustDomain}/ns/lanyard-system/sa/lanyard-controller`;
  parseSpiffeId(controlPlaneId);
  const joinToken = env.LANYARD_JOIN_TOKEN;
  const credential = joinToken
    ? ({ kind: 'join-token', token: joinToken } as const)
    : ({
        kind: 'token-file',
        path: env.LANYARD_TOKEN_PATH ?? '/var/run/secrets/lanyard/token',
      } as const);
  const rootsPath = required(env, 'LANYARD_ROOTS_FILE');
  const routesFile = env.LANYARD_ROUTES_FILE;
  return {
    trustDomain,
    controlPlaneAddress: required(env, 'LANYARD_CONTROL_PLANE'),
    controlPlaneId,
    bootstrapRootsPem: readFileSync(rootsPath, 'utf8'),
    podName: required(env, 'LANYARD_POD_NAME'),
    credential,
    ...(env.LANYARD_APP_PORT ? { appPort: port(env, 'LANYARD_APP_PORT') } : {}),
    inboundPort: port(env, 'LANYARD_INBOUND_PORT', 15006),
    outboundPort: port(env, 'LANYARD_OUTBOUND_PORT', 15001),
    adminPort: port(env, 'LANYARD_ADMIN_PORT', 15020),
    bindAddress: env.LANYARD_BIND_ADDRESS ?? '0.0.0.0',
    routes: routesFile ? parseRoutes(readFileSync(routesFile, 'utf8')) : new Map(),
    ...(env.LANYARD_APP_PROBES ? { appProbes: parseAppProbes(env.LANYARD_APP_PROBES) } : {}),
  };
}
