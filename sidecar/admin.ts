// The sidecar's admin endpoints (port 15020): liveness, readiness, Prometheus metrics and the
// app's own probes forwarded (/app-health/...). GET only: nothing here changes state.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { AppHealth } from './app-health.ts';

export interface ReadinessCheck {
  /** Why the sidecar is not ready, or undefined when it is. */
  notReadyReason(): string | undefined;
}

export function createAdminServer(
  registry: Registry,
  readiness: ReadinessCheck,
  appHealth?: AppHealth,
): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/ready') {
      const reason = readiness.notReadyReason();
      res
        .writeHead(reason ? 503 : 200, { 'content-type': 'text/plain' })
        .end(reason ? `${reason}\n` : 'ready\n');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (!appHealth?.handle(path ?? '', res)) {
      res.writeHead(404).end();
    }
  });
}
