// `lanyard blocks` up to the API server: arguments, their checks, the table. The commands
// against a real API server (and as `kubectl lanyard blocks`) are in
// test/integration/monitor-blocks-store.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blockName } from '../controller/monitor/block-object.ts';
import type { Block } from '../controller/monitor/blocks.ts';
import { formatBlockTable, parseAddRequest, runBlocks } from './blocks.ts';

const home = mkdtempSync(join(tmpdir(), 'lanyard-blocks-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

async function blocks(...args: string[]) {
  let out = '';
  let err = '';
  const code = await runBlocks(
    args,
    { out: (t) => (out += t), err: (t) => (err += t) },
    { env: { HOME: home } },
  );
  return { code, out, err };
}

describe('lanyard blocks: arguments', () => {
  it('prints its usage with --help', async () => {
    const { code, out } = await blocks('--help');
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: lanyard blocks list/);
  });

  it.each<[string[], RegExp]>([
    [[], /name a command: list, add or lift/],
    [['drop'], /unknown command "drop"/],
    [['add'], /exactly one of --principal, --user or --token/],
    [['add', '--user', 'a', '--token', 'b'], /exactly one of/],
    [
      ['add', '--principal', 'spiffe://cluster.local/ns/a/../b'],
      /--principal must be a SPIFFE ID in canonical form/,
    ],
    [['add', '--token', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'], /not a whole token/],
    [['add', '--user', 'mallory', '--ttl', '8d'], /--ttl must be a duration from 1s to 168h/],
    [['add', '--user', 'mallory', '--ttl', '169h'], /--ttl/],
    [['add', '--user', 'mallory', '--reason', 'a\u001b[2J'], /--reason must be/],
    [['list', '--user', 'mallory'], /--user belongs to add/],
    [['list', 'extra'], /list takes no arguments/],
    [['lift'], /lift takes one block id/],
    [['lift', 'my-block'], /"my-block" is not a block id/],
    [['list', '-o', 'yaml'], /--output must be table or json/],
    [['list', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['list', '-n', 'Bad_NS'], /is not a namespace name/],
  ])('refuses %j with exit code 2 and says why', async (args, message) => {
    const { code, out, err } = await blocks(...args);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(message);
  });

  it('exits 2 with a clear message when there is no kubeconfig', async () => {
    const { code, err } = await blocks('list');
    expect(code).toBe(2);
    expect(err).toMatch(/no kubeconfig: pass --kubeconfig, set KUBECONFIG or create/);
  });

  it('reads one target, the TTL (1h by default) and the reason of add', () => {
    expect(parseAddRequest({ user: 'mallory' })).toEqual({
      target: { type: 'user', value: 'mallory' },
      ttlMs: 3600_000,
      reason: '',
    });
    expect(parseAddRequest({ token: 'jti-7', ttl: '10m', reason: 'stolen' })).toEqual({
      target: { type: 'token', value: 'jti-7' },
      ttlMs: 600_000,
      reason: 'stolen',
    });
  });
});

describe('formatBlockTable', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  const block = (value: string, inMs: number, reason = ''): Block => ({
    id: blockName({ type: 'user', value }),
    type: 'user',
    value,
    createdMs: now,
    expiresMs: now + inMs,
    reason,
    by: 'operator',
  });

  it('lists the soonest expiry first, with the time left and printable fields', () => {
    const table = formatBlockTable([block('late', 3 * 3600_000, 'x'), block('soon\u001b[31m', 90_000)], now);
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+TARGET\s+EXPIRES\s+BY\s+REASON$/);
    expect(lines[1]).toContain('soon [31m');
    expect(lines[1]).toContain('in 90s (2026-11-29T12:01:30.000Z)');
    expect(lines[1]).toMatch(/operator {2}-$/);
    expect(lines[2]).toContain('in 3h (2026-11-29T15:00:00.000Z)');
    expect(table).not.toContain('\u001b');
  });

  it('says so when there is no block', () => {
    expect(formatBlockTable([], now)).toBe('No active blocks.\n');
  });
});
