import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBufferedLog } from './log-destination.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-log-'));
  dirs.push(dir);
  return join(dir, 'log.jsonl');
}

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('buffered log destination', () => {
  it('writes nothing per line until minLength, everything on close', async () => {
    const file = tempFile();
    const fd = openSync(file, 'w');
    const buffered = createBufferedLog({ name: 'test', fd, minLength: 8192 });
    for (let i = 0; i < 10; i++) buffered.log.info({ i }, 'decision');
    expect(readFileSync(file, 'utf8')).toBe('');
    await buffered.close();
    expect(lines(file).map((line) => line.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('writes an infoJson line as pino writes the same fields: same members, same order', async () => {
    const file = tempFile();
    const fd = openSync(file, 'w');
    const buffered = createBufferedLog({ name: 'lanyard-sidecar', fd });
    const fields = {
      decision: 'ALLOW',
      status: 200,
      policy: null,
      path: '/a"b\\c\u0001',
      dryRun: { rule: 'r' },
    };
    buffered.log.info(fields, 'decision');
    buffered.infoJson(JSON.stringify(fields).slice(1, -1), 'decision');
    buffered.log.level = 'warn';
    buffered.infoJson('"quiet":true', 'decision');
    await buffered.close();
    const [viaPino, viaJson, ...rest] = lines(file);
    expect(rest).toEqual([]);
    expect(typeof viaJson!.time).toBe('number');
    expect({ ...viaJson, time: 0 }).toEqual({ ...viaPino, time: 0 });
    expect(Object.keys(viaJson!)).toEqual(Object.keys(viaPino!));
    expect(viaJson).toMatchObject({ level: 30, name: 'lanyard-sidecar', pid: process.pid, msg: 'decision' });
  });

  it('drops lines beyond its bound and counts every one, then says so in the log', async () => {
    const file = tempFile();
    const fd = openSync(file, 'w');
    let counted = 0;
    const buffered = createBufferedLog({
      name: 'test',
      fd,
      minLength: 4096,
      maxBufferBytes: 2048,
      dropReportEveryMs: 20,
      onDrop: (lines) => (counted += lines),
    });
    // One synchronous burst: nothing can be written before it ends, so the buffer fills.
    for (let i = 0; i < 200; i++) buffered.log.info({ i, pad: 'x'.repeat(100) }, 'decision');
    // Lines reach the bounded buffer in batches: the last batch is counted once handed over.
    buffered.flushSync();
    const dropped = buffered.dropped();
    expect(dropped).toBeGreaterThan(0);
    expect(counted).toBe(dropped);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await buffered.close();
    const written = lines(file);
    expect(written.filter((line) => line.msg === 'decision').length).toBe(200 - dropped);
    const report = written.find((line) => typeof line.dropped === 'number');
    expect(report).toMatchObject({ dropped, droppedTotal: dropped, level: 40 });
  });

  it('drops and counts a line logged after close, without throwing', async () => {
    const file = tempFile();
    const buffered = createBufferedLog({ name: 'test', fd: openSync(file, 'w') });
    buffered.log.info({ i: 0 }, 'decision');
    await buffered.close();
    expect(() => buffered.log.info({ i: 1 }, 'late')).not.toThrow();
    expect(() => buffered.infoJson('"i":2', 'late')).not.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(buffered.dropped()).toBe(2);
    expect(lines(file).map((line) => line.i)).toEqual([0]);
  });

  it('flushes what is buffered when the process exits', () => {
    const script = `
      import { createBufferedLog } from './cli/log-destination.ts';
      const { log } = createBufferedLog({ name: 'exit-test', minLength: 8192, flushEveryMs: 60_000 });
      for (let i = 0; i < 3; i++) log.info({ i }, 'before exit');
      process.exit(0);
    `;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const written = result.stdout.split('\n').filter(Boolean);
    expect(written.map((line) => (JSON.parse(line) as { i: number }).i)).toEqual([0, 1, 2]);
  }, 90_000);
});
