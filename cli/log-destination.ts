// An asynchronous, buffered log destination for processes that log on every request (the
// sidecar's decision log): lines are gathered into writes of at least minLength bytes and
// written without blocking the event loop, at the latest after flushEveryMs. The buffer is
// bounded; lines that do not fit are dropped and counted (never silently: the count is a
// metric and a warning line). Whatever is buffered is written synchronously on exit.
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
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
  /** Told of dropped lines (for a counter). */
  onDrop?: (lines: number) => void;
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

/**
 * Lines gathered into one string before they reach sonic-boom, which appends each write to the
 * string it holds and measures that whole string's byte length every time: a line cost about
 * 10 µs at 4 KiB buffered, and half that in batches. A batch leaves once it is `batchChars`
 * long, and at the end of the event loop's turn in any case, so that lines keep their order
 * and wait no longer than they would in sonic-boom alone.
 */
class LineBatch implements DestinationStream {
  private lines: string[] = [];
  private chars = 0;
  private scheduled = false;
  private closed = false;
  private readonly handOverSoon = () => {
    this.scheduled = false;
    this.handOver();
  };

  constructor(
    private readonly stream: DestinationStream,
    private readonly batchChars: number,
    private readonly droppedLate: () => void,
  ) {}

  write(line: string): void {
    // The stream has ended: a late line is dropped and counted, never written to a closed file.
    if (this.closed) return this.droppedLate();
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.batchChars) this.handOver();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.handOverSoon);
    }
  }

  /** Hands over what is gathered; every later line is dropped. */
  close(): void {
    this.handOver();
    this.closed = true;
  }

  /** Hands the gathered lines to the stream as one write. */
  handOver(): void {
    if (this.lines.length === 0) return;
    const batch = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.chars = 0;
    this.stream.write(batch);
  }
}

function countLines(text: string): number {
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines += 1;
  return lines;
}

export function createBufferedLog(options: BufferedLogOptions): BufferedLog {
  const minLength = options.minLength ?? 4096;
  const maxBufferBytes = options.maxBufferBytes ?? 8 * 1024 * 1024;
  const stream = pino.destination({
    dest: options.fd ?? 1,
    sync: false,
    minLength,
    maxLength: maxBufferBytes,
    periodicFlush: options.flushEveryMs ?? 1000,
  });
  let dropped = 0;
  let reported = 0;
  // sonic-boom drops a whole write (a batch) that does not fit; every line of it is counted.
  const drop = (lines: number) => {
    dropped += lines;
    options.onDrop?.(lines);
  };
  stream.on('drop', (data: string) => drop(countLines(data)));
  // Batches no longer than a quarter of the bound, so that one batch never fills it alone.
  const batchChars = Math.max(1, Math.min(minLength, Math.floor(maxBufferBytes / 4)));
  const batch = new LineBatch(stream, batchChars, () => drop(1));
  const log = pino({ name: options.name }, batch);
  // pid, hostname and name, as pino writes them after the time: `,"pid":1,"hostname":"h",...`.
  const bindings = (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym];
  const infoJson: InfoJsonWriter = (fieldsJson, message) => {
    if (!log.isLevelEnabled('info')) return;
    batch.write(
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
    batch.handOver();
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
        batch.close();
        flushSync();
        stream.once('close', () => resolve());
        stream.end();
      }),
  };
}
