import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLanyardError } from '../lib/errors.ts';
import { silentLogger } from '../lib/logger.ts';
import { nullNotifier, type SecurityNotice } from '../idp/notify.ts';
import { notifierFromFlags } from './idp.ts';

const TOKEN = 'notice-token-for-the-mesh-monitor-0123456789';
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
const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-webhook-'));
const received: IncomingHttpHeaders[] = [];
let server: Server;
let url: string;

beforeAll(async () => {
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  writeFileSync(join(dir, 'spaced'), 'two words\n');
  server = createServer((request, response) => {
    received.push(request.headers);
    request.resume();
    request.on('end', () => response.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('lanyard idp serve: --webhook-url and --webhook-token-file', () => {
  it('sends the token of the file (flag or variable) as a bearer token', async () => {
    const flagged = notifierFromFlags(
      { 'webhook-url': url, 'webhook-token-file': join(dir, 'token') },
      {},
      new Registry(),
      silentLogger,
    );
    flagged.notify(notice);
    await flagged.close();
    const fromEnv = notifierFromFlags(
      {},
      { LANYARD_IDP_WEBHOOK_URL: url, LANYARD_IDP_WEBHOOK_TOKEN_FILE: join(dir, 'token') },
      new Registry(),
      silentLogger,
    );
    fromEnv.notify(notice);
    await fromEnv.close();
    const plain = notifierFromFlags({ 'webhook-url': url }, {}, new Registry(), silentLogger);
    plain.notify(notice);
    await plain.close();
    expect(received.map((headers) => headers.authorization)).toEqual([
      `Bearer ${TOKEN}`,
      `Bearer ${TOKEN}`,
      undefined,
    ]);
  });

  it('sends nothing without a URL, and refuses a token file without one', () => {
    expect(notifierFromFlags({}, {}, new Registry(), silentLogger)).toBe(nullNotifier);
    expect(() =>
      notifierFromFlags({ 'webhook-token-file': join(dir, 'token') }, {}, new Registry(), silentLogger),
    ).toThrow('--webhook-token-file needs --webhook-url');
  });

  it('refuses a missing or malformed token file as a configuration error, without echoing it', () => {
    for (const file of ['absent', 'spaced']) {
      let error: unknown;
      try {
        notifierFromFlags(
          { 'webhook-url': url, 'webhook-token-file': join(dir, file) },
          {},
          new Registry(),
          silentLogger,
        );
      } catch (caught) {
        error = caught;
      }
      expect(isLanyardError(error, 'ERR_CONFIG_INVALID')).toBe(true);
      expect((error as Error).message).not.toContain('two words');
    }
  });
});
