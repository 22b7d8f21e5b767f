// An asynchronous, buffered log destination for processes that log on every request (the
// sidecar's decision log): lines are gathered into writes of at least minLength bytes and
// written without blocking the event loop, at the latest after flushEveryMs. The buffer is
// bounded; a line that does not fit is dropped and counted (never silently: the count is a
// metric and a warning line). Whatever is buffered is written synchronously on exit.
import { pino, type Logger as PinoLogger } from 'pino';
import type { InfoJsonWriter, Logger } from '../lib/logger.ts';

export interface BufferedLogOptions {
  /** pino's logger name. */
  name: string;
  /** Where lines go. Default 1 (stdout). */
  fd?: number;
  /** Bytes gathered before a write. Default 4 KiB. */
  minLength?: number;
  /** Most bytes buffered; lines beyond are dropped and counted. Default 8 MiB. */
  maxBufferBytes?: number;
  /** Buffered lines are written at least this often. Default 1 s. */
  flushEveryMs?: number;
  /** How often a warning says how many lines were dropped since the last one. Default 10 s. */
  dropReportEveryMs?: number;
  /** Told of every dropped line (for a counter). */
  onDrop?: () => void;
}

export interface BufferedLog {
  readonly log: Logger & PinoLogger;
  /** An info line of `log` from fields that are JSON already: the same line pino writes. */
  readonly infoJson: InfoJsonWriter;
  /** Lines dropped because the buffer was full, since start. */
  dropped(): number;
  /** Writes what is buffered, synchronously (on exit). */
  flushSync(): void;
  /** Writes what is buffered and ends the stream (closing its fd unless stdout or stderr). */
  close(): Promise<void>;
}

export function createBufferedLog(options: BufferedLogOptions): BufferedLog {
  const stream = pino.destination({
    dest: options.fd ?? 1,
    sync: false,
    minLength: options.minLength ?? 4096,
    maxLength: options.maxBufferBytes ?? 8 * 1024 * 1024,
    periodicFlush: options.flushEveryMs ?? 1000,
  });
  let dropped = 0;
  let reported = 0;
  stream.on('drop', () => {
    dropped += 1;
    options.onDrop?.();
  });
  const log = pino({ name: options.name }, stream);
  // pid, hostname and name, as pino writes them after the time: `,"pid":1,"hostname":"h",...`.
  const bindings = (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym];
  const infoJson: InfoJsonWriter = (fieldsJson, message) => {
    if (!log.isLevelEnabled('info')) return;
    stream.write(
      `{"level":${pino.levels.values.info},"time":${Date.now()}${bindings},${fieldsJson},"msg":${JSON.stringify(message)}}\n`,
    );
  };
  const reporter = setInterval(() => {
    if (dropped === reported) return;
    // Written once the buffer has room again; if it has none, the next report carries the count.
    log.warn(
      { dropped: dropped - reported, droppedTotal: dropped },
      'log lines dropped: the log destination is too slow',
    );
    reported = dropped;
  }, options.dropReportEveryMs ?? 10_000);
  reporter.unref();

  const flushSync = () => {
    try {
      stream.flushSync();
    } catch {
      // Not open yet or already closed: there is nothing more that could be written.
    }
  };
  process.on('exit', flushSync);
  return {
    log,
    infoJson,
    dropped: () => dropped,
    flushSync,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(reporter);
        process.off('exit', flushSync);
        flushSync();
        stream.once('close', () => resolve());
        stream.end();
      }),
  };
}
