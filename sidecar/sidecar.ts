// The sidecar process: obtain an SVID, load the workload's policy snapshot and the mesh's block
// list, then serve inbound mTLS (15006), outbound (15001) and admin (15020). Ready only with an
// SVID, a policy and a block snapshot.
import { readFile } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { CaClient, type Svid } from '../ca/client/ca-client.ts';
import { systemClock } from '../lib/clock.ts';
import { infoJsonVia, silentLogger, type InfoJsonWriter, type Logger } from '../lib/logger.ts';
import { normalizePath } from '../lib/path.ts';
import type { WorkloadPolicy } from '../lib/policy/index.ts';
import { createAdminServer } from './admin.ts';
import { createAppHealth } from './app-health.ts';
import { createAppForwarder } from './app-forwarder.ts';
import { BlockClient } from './block-client.ts';
import { createBlockMetrics } from './block-metrics.ts';
import { BlockSet } from './block-set.ts';
import type { SidecarConfig } from './config.ts';
import { createDecisionSink } from './decision-sink.ts';
import { createHttp2Forwarder } from './http2-forwarder.ts';
import { createInboundPipeline } from './inbound.ts';
import {
  createHttpJwksFetcher,
  createJwtValidator,
  createKeySourcePool,
  type JwtValidatorOptions,
} from './jwt/index.ts';
import { listenOn } from './listen.ts';
import { createInboundListener, type InboundListener, type TlsMaterial } from './listener.ts';
import { createSidecarMetrics } from './metrics.ts';
import { createOutOfMeshForwarder, type OutOfMeshForwarder } from './out-of-mesh.ts';
import { createOutboundProxy, type OutboundProxy } from './outbound.ts';
import { PolicyClient } from './policy-client.ts';
import { EventReporter } from './event-reporter.ts';
import { createServiceTokenCache } from './service-jwt.ts';

export interface RunningSidecar {
  readonly spiffeId: string;
  /** inbound is 0 for a client-only workload (no app port), which gets no inbound listener. */
  readonly ports: { inbound: number; outbound: number; admin: number };
  /** Why the sidecar is not ready, or undefined. */
  notReadyReason(): string | undefined;
  close(): Promise<void>;
}

export interface SidecarDeps {
  log?: Logger;
  /** Writes a line per decision; default: through `log`. */
  infoJson?: InfoJsonWriter;
  registry?: Registry;
}

export async function startSidecar(config: SidecarConfig, deps: SidecarDeps = {}): Promise<RunningSidecar> {
  const log = deps.log ?? silentLogger;
  const registry = deps.registry ?? new Registry();
  const metrics = createSidecarMetrics(registry, {
    svid: () => current,
    outboundConnections: () =>
      (live.outbound?.openConnections() ?? 0) + (live.outOfMesh?.openConnections() ?? 0),
  });
  // One JWKS cache per issuer and URI for the sidecar's life, not per policy snapshot.
  const jwtOptions: JwtValidatorOptions = {
    keySources: createKeySourcePool(),
    onJwksFetch: (issuer, outcome) => metrics.jwksFetch(issuer, outcome),
    ...(config.jwksCaPem !== undefined && { fetcher: createHttpJwksFetcher({ ca: config.jwksCaPem }) }),
  };
  let policy: WorkloadPolicy | undefined;
  let material: TlsMaterial | undefined;
  // Filled in once the first SVID is here; the rotation callback reaches them through this.
  const live: {
    inbound?: InboundListener;
    outbound?: OutboundProxy;
    outOfMesh?: OutOfMeshForwarder;
    policyClient?: PolicyClient;
  } = {};
  const trustDomains = new Set([config.trustDomain]);

  const ca = new CaClient({
    address: config.controlPlaneAddress,
    caSpiffeId: config.controlPlaneId,
    bootstrapRootsPem: config.bootstrapRootsPem,
    clock: systemClock,
    logger: log,
    credential: async () =>
      config.credential.kind === 'join-token'
        ? { kind: 'join-token', token: config.credential.token }
        : // Re-read each time: the kubelet rotates the projected token.
          { kind: 'token', token: (await readFile(config.credential.path, 'utf8')).trim() },
    onSvid: (svid) => update(svid, undefined),
    onBundle: (bundle) => update(undefined, bundle.rootsPem),
  });
  // Decision events to the control plane; started once the SVID is there.
  const reporter = new EventReporter({
    address: config.controlPlaneAddress,
    serverId: config.controlPlaneId,
    trustDomain: config.trustDomain,
    tls: () => material!,
    log,
  });
  // Blocks pushed by the control plane, enforced by the inbound pipeline before any policy.
  const blocks = new BlockSet(systemClock);
  const blockClient = new BlockClient({
    address: config.controlPlaneAddress,
    serverId: config.controlPlaneId,
    trustDomain: config.trustDomain,
    tls: () => material!,
    blocks,
    onSnapshot: (outcome) => blockMetrics.snapshot(outcome),
    log,
  });
  const blockMetrics = createBlockMetrics(registry, {
    active: () => blocks.active(),
    receivedMs: () => blocks.receivedMs,
    connected: () => blockClient.connected,
  });
  let roots = config.bootstrapRootsPem;
  let current: Svid | undefined;
  const update = (svid: Svid | undefined, rootsPem: string | undefined) => {
    if (svid) current = svid;
    if (rootsPem) roots = rootsPem;
    if (!current) return;
    material = { certChainPem: current.certChainPem, keyPem: current.privateKeyPem, bundlePem: roots };
    live.inbound?.rotate(material);
    live.outbound?.rotate(material);
    live.policyClient?.reconnect();
    reporter.reconnect();
    blockClient.reconnect();
    log.info(
      { spiffeId: current.spiffeId, expiresAt: new Date(current.expiresAt).toISOString() },
      'SVID loaded',
    );
  };

  const notReadyReason = () =>
    !material
      ? 'no SVID yet'
      : !policy
        ? 'no policy snapshot yet'
        : blocks.version === undefined
          ? 'no block snapshot yet'
          : undefined;
  const admin = createAdminServer(
    registry,
    { notReadyReason },
    config.appProbes ? createAppHealth(config.appProbes) : undefined,
  );
  const adminPort = await listenOn(admin, config.adminPort, config.bindAddress);

  const svid = await ca.start();
  const appPort = config.appPort;
  // One pipeline for both protocols: an HTTP/2 stream is decided exactly as an HTTP/1.1 request.
  const pipeline = createInboundPipeline({
    policy: () => policy,
    normalizePath,
    validatorFor: (issuers) => createJwtValidator(issuers, jwtOptions),
    blocks,
  });
  const onDecision = createDecisionSink({
    metrics,
    blockMetrics,
    infoJson: deps.infoJson ?? infoJsonVia(log),
    reporter,
  });
  const forwarder = createAppForwarder({ pipeline, appPort: appPort ?? 0, onDecision });
  const http2Forwarder = createHttp2Forwarder({ pipeline, appPort: appPort ?? 0, onDecision });
  const inbound = createInboundListener({
    tls: material!,
    trustDomains: () => trustDomains,
    mtlsMode: () => policy?.mtls ?? 'STRICT',
    handle: forwarder.handle,
    handleStream: http2Forwarder.handleStream,
    onRefused: (reason) => log.warn({ reason }, 'inbound connection refused'),
  });
  const outOfMesh = createOutOfMeshForwarder({
    tokens: createServiceTokenCache({
      mint: (audience) =>
        ca.mintJwtSvid(audience).catch((error: unknown) => {
          log.warn({ audience, error: (error as Error).message }, 'JWT-SVID mint failed');
          throw error;
        }),
      clock: systemClock,
      onMint: (outcome) => metrics.serviceTokenMint(outcome),
    }),
    onResult: (result) => {
      metrics.outbound({ kind: 'out_of_mesh', ...result });
      if (result.error) log.warn({ ...result }, 'out-of-mesh call failed');
    },
  });
  live.outOfMesh = outOfMesh;
  const outbound = createOutboundProxy({
    tls: material!,
    trustDomains: () => trustDomains,
    resolve: (host, port) => config.routes.get(`${host}:${port}`),
    outOfMesh,
    onResult: (result) => metrics.outbound({ kind: 'mesh', ...result }),
  });
  // A client-only workload has nothing to protect inbound: no listener, nothing to bypass.
  const inboundPort =
    appPort === undefined ? 0 : await inbound.listen(config.inboundPort, config.bindAddress);
  const outboundPort = await outbound.listen(config.outboundPort, '127.0.0.1');

  const policyClient = new PolicyClient({
    address: config.controlPlaneAddress,
    serverId: config.controlPlaneId,
    trustDomain: config.trustDomain,
    podName: config.podName,
    tls: () => material!,
    onPolicy: (next, version) => {
      policy = next;
      log.info(
        { version, policies: [...next.allow, ...next.deny, ...next.audit, ...next.dryRun].map((p) => p.key) },
        'policy snapshot loaded',
      );
    },
    log,
  });
  Object.assign(live, { inbound, outbound, policyClient });
  policyClient.start();
  blockClient.start();
  reporter.start();

  return {
    spiffeId: svid.spiffeId,
    ports: { inbound: inboundPort, outbound: outboundPort, admin: adminPort },
    notReadyReason,
    async close() {
      policyClient?.stop();
      blockClient.stop();
      reporter.stop();
      ca.stop();
      forwarder.close();
      http2Forwarder.close();
      await Promise.all([
        inbound?.close(),
        outbound?.close(),
        new Promise((resolve) => admin.close(resolve)),
      ]);
    },
  };
}
