// The injection webhook's serving certificate, issued by the control plane's own CA. The key is
// made fresh for every certificate and lives in memory only (no Secret to leak or to sync
// between replicas: each replica has its own). The certificate is renewed at half-life, and at
// once when the CA's signer changes (a root rotation), so it always chains to a root that the
// caBundle carries.
import { generateKeyPairSync, type X509Certificate } from 'node:crypto';
import type { Signer } from '../../ca/signer.ts';
import { issueServingCert } from '../../ca/serving-cert.ts';
import type { Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { TlsPems } from './server.ts';

/** The serving certificate's DNS names: the Service, in both of its cluster forms. */
export function webhookDnsNames(
  service: string,
  namespace: string,
  clusterDomain = 'cluster.local',
): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}

export const DEFAULT_SERVING_TTL_MS = 24 * 3600_000;

export interface ServingCertificateOptions {
  /** The CA's current signer, read at each issuance. */
  signer: () => Signer;
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  /** Default 24 hours. */
  ttlMs?: number;
  clock: Clock;
  log?: Logger;
}

interface Current {
  readonly tls: TlsPems;
  readonly cert: X509Certificate;
  readonly renewAt: number;
  /** The signer that issued it, to notice a rotation. */
  readonly signerFingerprint: string;
}

export class ServingCertificate {
  private current: Current | undefined;
  private readonly listeners = new Set<(tls: TlsPems) => void>();
  private readonly log: Logger;

  constructor(private readonly options: ServingCertificateOptions) {
    this.log = options.log ?? silentLogger;
  }

  /** The PEMs to serve with, once issued. */
  get tls(): TlsPems | undefined {
    return this.current?.tls;
  }

  get certificate(): X509Certificate | undefined {
    return this.current?.cert;
  }

  onRenew(listener: (tls: TlsPems) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Issues a new certificate and key now; listeners get it. Throws if the CA refuses. */
  renew(reason: string): TlsPems {
    const signer = this.options.signer();
    const now = this.options.clock.now();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = issueServingCert(signer, {
      dnsNames: this.options.dnsNames,
      ...(this.options.ipAddresses ? { ipAddresses: this.options.ipAddresses } : {}),
      publicKey,
      now,
      ttlMs: this.options.ttlMs ?? DEFAULT_SERVING_TTL_MS,
    });
    const tls: TlsPems = {
      // The leaf, then any intermediates: the API server holds only the roots (the caBundle).
      certPem: [issued.cert.toString(), ...signer.material.chainPems].join(''),
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    this.current = {
      tls,
      cert: issued.cert,
      renewAt: now + (issued.notAfter - now) / 2,
      signerFingerprint: signer.cert.fingerprint256,
    };
    this.log.info(
      { reason, notAfter: new Date(issued.notAfter).toISOString(), serial: issued.cert.serialNumber },
      'webhook serving certificate issued',
    );
    for (const listener of this.listeners) listener(tls);
    return tls;
  }

  /**
   * Renews when there is no certificate, at half-life, or when the signer changed. Never throws:
   * a failed renewal is logged and the held certificate keeps serving until the next check.
   */
  check(): boolean {
    const reason = this.dueReason();
    if (!reason) return false;
    try {
      this.renew(reason);
      return true;
    } catch (error) {
      this.log.error({ reason, err: String(error) }, 'could not renew the webhook serving certificate');
      return false;
    }
  }

  private dueReason(): string | undefined {
    if (!this.current) return 'initial';
    if (this.options.signer().cert.fingerprint256 !== this.current.signerFingerprint) return 'signer-changed';
    if (this.options.clock.now() >= this.current.renewAt) return 'half-life';
    return undefined;
  }
}
