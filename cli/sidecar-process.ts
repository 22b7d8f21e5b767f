// `lanyard sidecar`: the process in every pod, so it loads only the sidecar's own modules (no
// controller, no Kubernetes client) and logs through an asynchronous, buffered destination:
// the decision log writes a line per request, and a synchronous write per line would cost
// the request path a system call each.
import { Counter, Registry } from 'prom-client';
import { isLanyardError } from '../lib/errors.ts';
import { loadSidecarConfig } from '../sidecar/config.ts';
import { startSidecar } from '../sidecar/sidecar.ts';
import { createBufferedLog } from './log-destination.ts';
import type { CliIo } from './run.ts';

export async function runSidecar(_args: string[], io: CliIo): Promise<number> {
  let config;
  try {
    config = loadSidecarConfig();
  } catch (error) {
    if (isLanyardError(error, 'ERR_CONFIG_INVALID') || (error as { code?: string }).code === 'ENOENT') {
      io.err(`lanyard sidecar: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
  const registry = new Registry();
  const droppedLines = new Counter({
    name: 'lanyard_sidecar_log_lines_dropped_total',
    help: 'Log lines dropped because the log destination could not keep up (bounded buffer full).',
    registers: [registry],
  });
  const buffered = createBufferedLog({
    name: 'lanyard-sidecar',
    onDrop: (lines) => droppedLines.inc(lines),
  });
  const { log } = buffered;
  const sidecar = await startSidecar(config, { log, infoJson: buffered.infoJson, registry });
  log.info({ spiffeId: sidecar.spiffeId, ports: sidecar.ports }, 'sidecar serving');
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void sidecar
        .close()
        .then(() => {
          log.info({}, 'sidecar stopped');
          return buffered.close();
        })
        .then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
