// `lanyard controller`: the long-running control-plane process. It logs JSON lines with pino,
// stops cleanly on SIGINT/SIGTERM, and exits non-zero on a configuration error. (`lanyard
// sidecar` is in sidecar-process.ts, so that the sidecar never loads the controller.)
import { pino } from 'pino';
import { startControlPlane } from '../controller/control-plane.ts';
import { loadControllerConfig, type MonitorConfig, type WebhookConfig } from '../controller/config.ts';
import { readLoginTokenFile } from '../controller/dashboard/index.ts';
import type { WebhookHostingOptions } from '../controller/inject/hosting.ts';
import type { MonitorSettings } from '../controller/monitor/host.ts';
import { readIdpNoticeTokenFile } from '../controller/monitor/idp-notice-route.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { isLanyardError } from '../lib/errors.ts';
import { openGeoDatabase } from '../lib/geo.ts';
import type { CliIo } from './run.ts';

function untilSignal(close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void close().then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function configError(error: unknown, io: CliIo, command: string): number {
  if (isLanyardError(error, 'ERR_CONFIG_INVALID') || (error as { code?: string }).code === 'ENOENT') {
    io.err(`lanyard ${command}: ${(error as Error).message}\n`);
    return 2;
  }
  throw error;
}

function webhookHosting(webhook: WebhookConfig, trustDomain: string): WebhookHostingOptions {
  return {
    port: webhook.port,
    configName: webhook.configName,
    service: webhook.service,
    inject: {
      image: webhook.sidecarImage,
      ...(webhook.sidecarImagePullPolicy ? { imagePullPolicy: webhook.sidecarImagePullPolicy } : {}),
      controlPlaneAddress: webhook.controlPlaneAddress,
      trustDomain,
      rewriteProbes: webhook.rewriteProbes,
    },
  };
}

/**
 * The monitor's settings, with the geolocation database opened (its files checked now) and the
 * identity-provider notice token read from its file.
 */
export function monitorSettings({ geoip, idpNotices, ...config }: MonitorConfig): MonitorSettings {
  const settings: MonitorSettings = {
    ...config,
    ...(idpNotices && { idpNotices: { token: readIdpNoticeTokenFile(idpNotices.tokenFile) } }),
  };
  return geoip === 'off' ? settings : { ...settings, countries: openGeoDatabase(geoip) };
}

export async function runController(_args: string[], io: CliIo): Promise<number> {
  let config;
  let dashboardToken: string | undefined;
  let monitor: MonitorSettings;
  try {
    config = loadControllerConfig();
    if (config.dashboard) dashboardToken = readLoginTokenFile(config.dashboard.tokenFile);
    monitor = monitorSettings(config.monitor);
  } catch (error) {
    return configError(error, io, 'controller');
  }
  const log = pino({ name: 'lanyard-controller' });
  const plane = await startControlPlane({
    source: {
      kind: 'kubernetes',
      kubeConfig: loadKubeConfig(config.kubeconfig),
      namespace: config.namespace,
      identity: config.identity,
    },
    trustDomain: config.trustDomain,
    compile: { defaultAction: config.defaultAction, rootNamespace: config.rootNamespace },
    port: config.grpcPort,
    ...(config.httpPort !== 0 ? { httpPort: config.httpPort } : {}),
    ttl: { defaultMs: config.ttl.svidDefaultMs, minMs: config.ttl.svidMinMs, maxMs: config.ttl.svidMaxMs },
    jwtSvidTtlMs: config.ttl.jwtSvidMs,
    injection: {
      ...(config.webhook ? { webhook: webhookHosting(config.webhook, config.trustDomain) } : {}),
      evictPodsWithoutSidecar: config.evictPodsWithoutSidecar,
    },
    monitor,
    log,
  });
  // Loopback only: operators reach it with `kubectl port-forward`, which RBAC authorizes.
  const dashboard =
    config.dashboard && (await plane.startDashboard({ port: config.dashboard.port, token: dashboardToken! }));
  log.info(
    {
      address: plane.address,
      http: plane.httpAddress,
      dashboard: dashboard?.url,
      webhookPort: plane.webhook?.port,
      spiffeId: plane.spiffeId,
    },
    'control plane serving',
  );
  return untilSignal(() => plane.close());
}
