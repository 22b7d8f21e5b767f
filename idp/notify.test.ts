import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff } from '../lib/backoff.ts';
import { isLanyardError } from '../lib/errors.ts';
import { silentLogger } from '../lib/logger.ts';
import { checkWebhookUrl, WebhookNotifier, type SecurityNotice } from './notify.ts';

const notice: SecurityNotice = {
  kind: 'new_device',
  at: Date.UTC(2026, 0, 1),
  username: 'alice',
  userId: 'u-1',
  source: '81.2.69.160',
  country: 'GB',
  actions: [],
  detail: {},
};

interface Receiver {
  url: string;
  bodies: unknown[];
  server: Server;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A real HTTP receiver answering with the given statuses in turn (the last one repeats). */
async function receiver(statuses: number[], hang = false): Promise<Receiver> {
  const bodies: unknown[] = [];
  let calls = 0;
  const server = createServer((request: IncomingMessage, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      bodies.push({ headers: request.headers, body: JSON.parse(text) as unknown });
      if (hang) return;
      response.statusCode = statuses[Math.min(calls++, statuses.length - 1)]!;
      response.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, bodies, server };
}

const noWait = {
  sleep: () => Promise.resolve(),
  backoff: () => new Backoff(1, 1, () => 0),
};

async function metric(registry: Registry, outcome: string): Promise<number> {
  const values = (await registry.getSingleMetric('lanyard_idp_webhook_notices_total')!.get()).values;
  return values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe('webhook notifier', () => {
  it('posts the notice as JSON, retrying a 503 until it is taken', async () => {
    const hook = await receiver([503, 200]);
    const registry = new Registry();
    const notifier = new WebhookNotifier({ url: hook.url, registry, logger: silentLogger, ...noWait });
    notifier.notify(notice);
    await notifier.close();
    expect(hook.bodies).toHaveLength(2);
    const { headers, body } = hook.bodies[1] as {
      headers: Record<string, string>;
      body: Record<string, unknown>;
    };
    expect(headers['content-type']).toBe('application/json');
    expect(body).toEqual({
      type: 'lanyard.idp.security_notice',
      kind: 'new_device',
      at: '2026-01-01T00:00:00.000Z',
      username: 'alice',
      userId: 'u-1',
      source: '81.2.69.160',
      country: 'GB',
      actions: [],
      detail: {},
    });
    expect(await metric(registry, 'delivered')).toBe(1);
  });

  it('sends its bearer token only when given one, and refuses a token that could split the header', async () => {
    const hook = await receiver([200]);
    const token = 'mesh-monitor-token-0123456789abcdef0123456789';
    const withToken = new WebhookNotifier({
      url: hook.url,
      token,
      registry: new Registry(),
      logger: silentLogger,
    });
    withToken.notify(notice);
    await withToken.close();
    const without = new WebhookNotifier({ url: hook.url, registry: new Registry(), logger: silentLogger });
    without.notify(notice);
    await without.close();
    const [first, second] = hook.bodies as { headers: Record<string, string> }[];
    expect(first!.headers.authorization).toBe(`Bearer ${token}`);
    expect(second!.headers.authorization).toBeUndefined();
    for (const bad of ['', 'two words', 'line\r\nX-Injected: 1', 'x'.repeat(513)]) {
      expect(
        () =>
          new WebhookNotifier({ url: hook.url, token: bad, registry: new Registry(), logger: silentLogger }),
      ).toThrow(TypeError);
    }
  });

  it('gives up after its retries, and does not retry a 400', async () => {
    const failing = await receiver([500]);
    const registry = new Registry();
    const notifier = new WebhookNotifier({
      url: failing.url,
      registry,
      logger: silentLogger,
      retries: 2,
      ...noWait,
    });
    notifier.notify(notice);
    await notifier.close();
    expect(failing.bodies).toHaveLength(3);
    const refusing = await receiver([400]);
    const second = new WebhookNotifier({
      url: refusing.url,
      registry: new Registry(),
      logger: silentLogger,
      ...noWait,
    });
    second.notify(notice);
    await second.close();
    expect(refusing.bodies).toHaveLength(1);
    expect(await metric(registry, 'failed')).toBe(1);
  });

  it('times out a receiver that never answers, and drops what does not fit its queue', async () => {
    const hanging = await receiver([200], true);
    const registry = new Registry();
    const notifier = new WebhookNotifier({
      url: hanging.url,
      registry,
      logger: silentLogger,
      retries: 0,
      timeoutMs: 200,
      queueSize: 1,
      ...noWait,
    });
    notifier.notify(notice); // taken by the worker at once
    notifier.notify(notice); // queued
    notifier.notify(notice); // queue full
    expect(await metric(registry, 'dropped')).toBe(1);
    await notifier.close();
    expect(await metric(registry, 'failed')).toBe(2);
    hanging.server.closeAllConnections();
  }, 20_000);

  it('accepts https and loopback http only, without userinfo', () => {
    expect(checkWebhookUrl('https://hooks.example/x').host).toBe('hooks.example');
    expect(checkWebhookUrl('http://127.0.0.1:8080/x').port).toBe('8080');
    expect(checkWebhookUrl('http://[::1]/x').hostname).toBe('[::1]');
    for (const bad of [
      'http://hooks.example/x',
      'ftp://127.0.0.1/',
      'https://user:pw@hooks.example/',
      'nope',
    ]) {
      let error: unknown;
      try {
        checkWebhookUrl(bad);
      } catch (caught) {
        error = caught;
      }
      expect(isLanyardError(error, 'ERR_CONFIG_INVALID'), bad).toBe(true);
    }
  });
});
