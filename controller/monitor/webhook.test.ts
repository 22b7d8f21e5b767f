import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff } from '../../lib/backoff.ts';
import { WebhookNotifier } from './webhook.ts';

let server: Server | undefined;

async function receiver(answer: (n: number, body: unknown, req: IncomingMessage) => number | 'hang') {
  let calls = 0;
  const bodies: unknown[] = [];
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      calls += 1;
      const body: unknown = JSON.parse(text);
      const status = answer(calls, body, req);
      if (status === 'hang') return;
      bodies.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, bodies, calls: () => calls };
}

afterEach(async () => {
  const open = server;
  server = undefined;
  if (!open?.listening) return;
  open.closeAllConnections();
  await new Promise((resolve) => open.close(resolve));
});

const fast = () => new Backoff(1, 5, () => 0.5);

describe('WebhookNotifier', () => {
  it('POSTs each payload as JSON with the configured headers', async () => {
    let auth: string | undefined;
    const hook = await receiver((_n, _b, req) => {
      auth = req.headers.authorization;
      return req.headers['content-type'] === 'application/json' ? 204 : 400;
    });
    const notifier = new WebhookNotifier({
      url: hook.url,
      headers: { authorization: 'Bearer s3cret' },
      backoff: fast(),
    });
    expect(notifier.notify({ kind: 'bad-tokens' })).toBe(true);
    await notifier.idle();
    expect(hook.bodies).toEqual([{ kind: 'bad-tokens' }]);
    expect(auth).toBe('Bearer s3cret');
    expect(notifier.stats).toEqual({ sent: 1, failed: 0, dropped: 0 });
  });

  it('retries a failing receiver a bounded number of times', async () => {
    const flaky = await receiver((n) => (n < 3 ? 503 : 200));
    const notifier = new WebhookNotifier({ url: flaky.url, retries: 3, backoff: fast() });
    notifier.notify({ n: 1 });
    await notifier.idle();
    expect([flaky.calls(), notifier.stats.sent]).toEqual([3, 1]);

    const dead = new WebhookNotifier({ url: flaky.url.replace('/hook', '/x'), retries: 2, backoff: fast() });
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    dead.notify({ n: 2 });
    await dead.idle();
    expect(dead.stats).toEqual({ sent: 0, failed: 1, dropped: 0 });
  });

  it('gives up on a receiver that never answers after its timeout', async () => {
    const hang = await receiver(() => 'hang');
    const notifier = new WebhookNotifier({ url: hang.url, timeoutMs: 200, retries: 1, backoff: fast() });
    notifier.notify({});
    await notifier.idle();
    expect([hang.calls(), notifier.stats.failed]).toEqual([2, 1]);
  });

  it('never blocks the caller: a full queue drops and counts', async () => {
    const hang = await receiver(() => 'hang');
    const notifier = new WebhookNotifier({
      url: hang.url,
      timeoutMs: 500,
      retries: 0,
      maxQueue: 3,
      backoff: fast(),
    });
    const accepted = Array.from({ length: 10 }, (_, i) => notifier.notify({ i }));
    // One in flight at once, three waiting.
    expect(accepted.filter(Boolean)).toHaveLength(4);
    expect(notifier.stats.dropped).toBe(6);
    await notifier.close();
    expect(notifier.notify({})).toBe(false);
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => new WebhookNotifier({ url: 'file:///etc/passwd' })).toThrow(TypeError);
  });
});
