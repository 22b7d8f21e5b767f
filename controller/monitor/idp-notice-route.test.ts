import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.ts';
import type { Detection } from './detectors.ts';
import { IDP_NOTICE_PATH, readIdpNoticeTokenFile, registerIdpNoticeRoute } from './idp-notice-route.ts';

const TOKEN = 'idp-notice-token-0123456789abcdefghijklmnopqrstuvwxyz';

function setup(options: { ratePerSecond?: number; burst?: number } = {}) {
  const clock = new FakeClock();
  const registry = new Registry();
  const detections: Detection[] = [];
  const logged: string[] = [];
  const line = (fields: unknown, message: string) => logged.push(JSON.stringify(fields) + message);
  const app = Fastify();
  registerIdpNoticeRoute(app, {
    token: TOKEN,
    respond: (detection) => detections.push(detection),
    registry,
    clock,
    log: { debug: line, info: line, warn: line, error: line },
    ...options,
  });
  const notice = (overrides: Record<string, unknown> = {}) => ({
    type: 'lanyard.idp.security_notice',
    kind: 'impossible_travel',
    at: new Date(clock.now()).toISOString(),
    username: 'alice',
    userId: 'u-1',
    source: '203.0.113.7',
    country: 'JP',
    actions: ['mfa'],
    detail: { distanceKm: 9300 },
    ...overrides,
  });
  const post = (body: unknown, authorization: string | null = `Bearer ${TOKEN}`) =>
    app.inject({
      method: 'POST',
      url: IDP_NOTICE_PATH,
      headers: {
        'content-type': 'application/json',
        ...(authorization !== null && { authorization }),
      },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const counted = async (outcome: string, kind = '_unknown') => {
    const metric = await registry.getSingleMetric('lanyard_monitor_idp_notices_total')!.get();
    return metric.values.find((v) => v.labels.outcome === outcome && v.labels.kind === kind)?.value ?? 0;
  };
  return { app, clock, detections, logged, notice, post, counted };
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('POST /monitor/v1/idp-notices', () => {
  it('accepts a notice with the token (202) and hands its detection over', async () => {
    const t = setup();
    app = t.app;
    const response = await t.post(t.notice());
    expect(response.statusCode).toBe(202);
    expect(t.detections).toHaveLength(1);
    expect(t.detections[0]).toMatchObject({
      kind: 'idp-impossible-travel',
      subject: { type: 'user', value: 'u-1' },
    });
    expect(await t.counted('accepted', 'impossible_travel')).toBe(1);
  });

  it('counts a new-device notice without a detection', async () => {
    const t = setup();
    app = t.app;
    expect((await t.post(t.notice({ kind: 'new_device' }))).statusCode).toBe(202);
    expect(t.detections).toHaveLength(0);
    expect(await t.counted('accepted', 'new_device')).toBe(1);
  });

  it.each<[string, string | null]>([
    ['no Authorization header', null],
    ['a wrong token', 'Bearer idp-notice-token-0123456789abcdefghijklmnopqrstuvwxyZ'],
    ['the token without the scheme', TOKEN],
    ['a token prefix', `Bearer ${TOKEN.slice(0, 40)}`],
  ])('refuses %s with 401 and records nothing', async (_what, authorization) => {
    const t = setup();
    app = t.app;
    const response = await t.post(t.notice(), authorization);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: 'ERR_MONITOR_IDP_UNAUTHENTICATED' });
    expect(t.detections).toHaveLength(0);
    expect(await t.counted('unauthenticated')).toBe(1);
    expect(t.logged.join('\n')).not.toContain(TOKEN.slice(0, 20));
  });

  it('refuses a malformed notice with 400 and says what is wrong', async () => {
    const t = setup();
    app = t.app;
    const response = await t.post(t.notice({ source: 'attacker.example' }));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: 'ERR_MONITOR_IDP_NOTICE_INVALID',
      message: 'notice.source must be an IPv4 or IPv6 address',
    });
    const broken = await t.post('{"kind": ');
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({ message: 'the notice is not valid JSON' });
    expect(t.detections).toHaveLength(0);
    expect(await t.counted('invalid')).toBe(2);
  });

  it('refuses a body over 16 KiB with 413', async () => {
    const t = setup();
    app = t.app;
    const response = await t.post(t.notice({ username: 'a'.repeat(17 * 1024) }));
    expect(response.statusCode).toBe(413);
    expect(t.detections).toHaveLength(0);
    expect(await t.counted('too_large')).toBe(1);
  });

  it('rate-limits authenticated notices (429) and refills with time', async () => {
    const t = setup({ ratePerSecond: 2, burst: 2 });
    app = t.app;
    expect((await t.post(t.notice())).statusCode).toBe(202);
    expect((await t.post(t.notice())).statusCode).toBe(202);
    const limited = await t.post(t.notice());
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(t.detections).toHaveLength(2);
    t.clock.advance(500);
    expect((await t.post(t.notice())).statusCode).toBe(202);
    expect(await t.counted('rate_limited')).toBe(1);
  });

  it('refuses to start with a token of the wrong shape', () => {
    expect(() => setupWith('short')).toThrow(/32 to 512 printable/);
    expect(() => setupWith(`${'x'.repeat(40)} y`)).toThrow(/32 to 512 printable/);
  });
});

function setupWith(token: string) {
  registerIdpNoticeRoute(Fastify(), {
    token,
    respond: () => undefined,
    registry: new Registry(),
    clock: new FakeClock(),
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

describe('readIdpNoticeTokenFile', () => {
  it('reads the token without its newline and refuses a bad one without echoing it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-token-'));
    try {
      writeFileSync(join(dir, 'good'), `${TOKEN}\n`);
      expect(readIdpNoticeTokenFile(join(dir, 'good'))).toBe(TOKEN);
      writeFileSync(join(dir, 'bad'), 'too-short-secret\n');
      expect(() => readIdpNoticeTokenFile(join(dir, 'bad'))).toThrow(/^(?!.*too-short-secret).*32 to 512/);
      writeFileSync(join(dir, 'big'), 'x'.repeat(2048));
      expect(() => readIdpNoticeTokenFile(join(dir, 'big'))).toThrow(/32 to 512/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
