import { describe, expect, it } from 'vitest';
import { T0 } from '../../test/fixtures/monitor/generate.ts';
import { BlockList } from './blocks.ts';
import type { Detection } from './detectors.ts';
import { Responder } from './responder.ts';

const spike: Detection = {
  kind: 'denial-spike',
  subject: { type: 'principal', value: 'spiffe://cluster.local/ns/shop/sa/scraper' },
  windowMs: 60_000,
  threshold: 20,
  count: 20,
  firstMs: T0,
  lastMs: T0 + 30_000,
};
const forged: Detection = { ...spike, kind: 'bad-tokens', subject: { type: 'source', value: '192.0.2.66' } };

function recorder() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) =>
    lines.push({ level, fields, message });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('Responder', () => {
  it('logs, records an Event, notifies the webhook and blocks the subject when its kind is enabled', () => {
    const { lines, log } = recorder();
    const events: Detection[] = [];
    const hooks: unknown[] = [];
    const blocks = new BlockList({ clock: { now: () => T0 } });
    const responder = new Responder({
      log,
      events: { record: (d) => events.push(d) },
      webhook: { notify: (p) => hooks.push(p) > 0 },
      autoBlock: { blocks, ttlMs: 300_000, kinds: ['denial-spike', 'token-spread'] },
    });
    const response = responder.respond(spike);
    expect(response.block).toMatchObject({
      type: 'principal',
      value: spike.subject.value,
      by: 'detector',
      expiresMs: T0 + 300_000,
    });
    expect(blocks.list()).toHaveLength(1);
    expect(events).toEqual([spike]);
    expect(hooks).toEqual([
      {
        detection: spike,
        message: expect.stringContaining('20 denials for principal') as unknown,
        block: response.block,
      },
    ]);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.fields).toMatchObject({
      detection: 'denial-spike',
      subject: spike.subject.value,
      count: 20,
      blockId: response.block!.id,
    });
  });

  it('never blocks a source address, nor a kind that is not enabled', () => {
    const blocks = new BlockList({ clock: { now: () => T0 } });
    const responder = new Responder({ autoBlock: { blocks, ttlMs: 300_000, kinds: ['bad-tokens'] } });
    expect(responder.respond(forged).block).toBeUndefined();
    const off = new Responder({ autoBlock: { blocks, ttlMs: 300_000, kinds: [] } });
    expect(off.respond(spike).block).toBeUndefined();
    expect(blocks.list()).toEqual([]);
  });

  it('logs a refused automatic block and still reports the detection', () => {
    const { lines, log } = recorder();
    const blocks = new BlockList({ clock: { now: () => T0 }, maxBlocks: 1 });
    blocks.add({ type: 'user', value: 'someone' }, 60_000, 'r', 'operator');
    const events: Detection[] = [];
    const responder = new Responder({
      log,
      events: { record: (d) => events.push(d) },
      autoBlock: { blocks, ttlMs: 60_000, kinds: ['denial-spike'] },
    });
    expect(responder.respond(spike).block).toBeUndefined();
    expect(lines.map((l) => l.fields.code)).toEqual(['ERR_MONITOR_BLOCK_LIMIT', undefined]);
    expect(events).toHaveLength(1);
  });
});
