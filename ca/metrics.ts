import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Keyring } from './keyring.ts';

export interface CaMetrics {
  readonly issued: Counter<'kind'>;
  readonly failed: Counter<'kind' | 'reason'>;
  readonly latency: Histogram<'kind'>;
}

/** CA metrics on the registry the host process gives (never the global one). */
export function createCaMetrics(registry: Registry, keyring: Keyring): CaMetrics {
  const registers = [registry];
  new Gauge({
    name: 'lanyard_ca_seconds_to_expiry',
    help: 'Seconds until the active root or signing certificate expires.',
    labelNames: ['certificate'],
    registers,
    collect() {
      const now = Date.now();
      const { rootNotAfter, signerNotAfter } = keyring.expiry();
      this.set({ certificate: 'root' }, Math.round((rootNotAfter - now) / 1000));
      this.set({ certificate: 'signer' }, Math.round((signerNotAfter - now) / 1000));
    },
  });
  return {
    issued: new Counter({
      name: 'lanyard_ca_issued_total',
      help: 'SVIDs issued, by kind (x509, jwt).',
      labelNames: ['kind'],
      registers,
    }),
    failed: new Counter({
      name: 'lanyard_ca_failed_total',
      help: 'SVID requests refused or failed, by kind and error code.',
      labelNames: ['kind', 'reason'],
      registers,
    }),
    latency: new Histogram({
      name: 'lanyard_ca_request_seconds',
      help: 'Time to answer an SVID request, by kind.',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
  };
}
