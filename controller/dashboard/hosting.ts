// The dashboard as the control plane hosts it: the read model fed by taps on the monitor
// (events, responses), views computed from it and from the control plane's live state
// (connected sidecars, policies, blocks), and the HTTP server. Loopback only by default: in a
// cluster it is reached through `kubectl port-forward`, which Kubernetes RBAC authorizes.
import { readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { describeDetection } from '../monitor/describe.ts';
import type { MonitorHost } from '../monitor/host.ts';
import type { ConnectedSidecar } from '../policy-stream.ts';
import { checkLoginToken, generateLoginToken } from './auth.ts';
import { DashboardModel, type DashboardModelOptions } from './model.ts';
import { buildDashboardServer } from './server.ts';
import { buildView, type PolicyState } from './view.ts';

export interface DashboardSources {
  monitor: Pick<MonitorHost, 'onEvent' | 'responder' | 'blocks'>;
  sidecars: () => ConnectedSidecar[];
  policies: (now: number) => PolicyState[];
  clock: Clock;
  log?: Logger;
}

export interface DashboardOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The login token; unset generates one (read it from the handle). */
  token?: string;
  sessionTtlMs?: number;
  model?: DashboardModelOptions;
}

export interface DashboardHandle {
  /** Where to open it, e.g. http://127.0.0.1:15015/ */
  readonly url: string;
  /** The login token: show it to the operator who started the dashboard, never log it. */
  readonly token: string;
  close(): Promise<void>;
}

/**
 * Reads a login token from a file (a mounted Secret), without its trailing newline, and checks
 * its shape (ERR_CONFIG_INVALID). A file larger than a token can be is refused unread.
 */
export function readLoginTokenFile(path: string): string {
  if (statSync(path).size > 1024) return checkLoginToken('');
  return checkLoginToken(readFileSync(path, 'utf8').replace(/\r?\n$/, ''));
}

export async function startDashboard(
  sources: DashboardSources,
  options: DashboardOptions,
): Promise<DashboardHandle> {
  const token = checkLoginToken(options.token ?? generateLoginToken());
  const model = new DashboardModel(options.model);
  const { monitor, clock } = sources;
  const unsubscribe = [
    monitor.onEvent((event) => model.recordEvent(event)),
    monitor.responder.onResponse(({ detection, block }) =>
      model.recordDetection(detection, describeDetection(detection), block),
    ),
  ];
  const server = buildDashboardServer({
    token,
    clock,
    ...(sources.log && { log: sources.log }),
    ...(options.sessionTtlMs !== undefined && { sessionTtlMs: options.sessionTtlMs }),
    view: () => {
      const now = clock.now();
      return buildView({
        model: model.snapshot(),
        sidecars: sources.sidecars(),
        policies: sources.policies(now),
        blocks: monitor.blocks.list(),
        now,
      });
    },
  });
  const host = options.host ?? '127.0.0.1';
  try {
    await server.listen({ port: options.port, host });
  } catch (error) {
    for (const stop of unsubscribe) stop();
    throw error;
  }
  const port = (server.server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  (sources.log ?? silentLogger).info({ url: `http://${shown}:${port}/` }, 'dashboard serving');
  return {
    url: `http://${shown}:${port}/`,
    token,
    async close() {
      for (const stop of unsubscribe) stop();
      await server.close();
    },
  };
}
