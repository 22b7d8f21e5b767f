import type { experimental } from '@grpc/grpc-js';

type Provider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * TLS material that can change while the server runs: the roots that client SVIDs must chain
 * to (they change with root rotation) and the server's own certificate (renewed before expiry).
 * A new listener gets the current material in a microtask, not synchronously: grpc-js registers
 * its own watcher only after adding ours, and would miss a synchronous first update.
 */
export class MutableCertificateProvider implements Provider {
  private ca: experimental.CaCertificateUpdate | null = null;
  private identity: experimental.IdentityCertificateUpdate | null = null;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  setCa(rootsPem: string): void {
    this.ca = { caCertificate: Buffer.from(rootsPem) };
    for (const listener of this.caListeners) listener(this.ca);
  }

  setIdentity(certificateChainPem: string, privateKeyPem: string): void {
    this.identity = { certificate: Buffer.from(certificateChainPem), privateKey: Buffer.from(privateKeyPem) };
    for (const listener of this.identityListeners) listener(this.identity);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const current = this.ca;
    if (current) queueMicrotask(() => listener(current));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const current = this.identity;
    if (current) queueMicrotask(() => listener(current));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
