// The sidecar's CA client. It imports only lib/ and proto/ (and npm packages), never CA internals.
import { X509Certificate } from 'node:crypto';
import { credentials, Metadata, type ChannelCredentials, type ClientReadableStream } from '@grpc/grpc-js';
import { Backoff } from '../../lib/backoff.ts';
import type { Clock } from '../../lib/clock.ts';
import { createKeyAndCsr } from '../../lib/csr.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { certificatePem } from '../../lib/pem.ts';
import type { IssueX509SVIDResponse__Output } from '../../proto/generated/lanyard/ca/v1/IssueX509SVIDResponse.ts';
import type { MintJWTSVIDResponse__Output } from '../../proto/generated/lanyard/ca/v1/MintJWTSVIDResponse.ts';
import { loadCaProto, type CertificateServiceClient, type TrustBundleMessage } from '../../proto/load.ts';
import { renewalDelay } from './schedule.ts';

/** What the client presents when it has no valid SVID yet. */
export type BootstrapCredential = { kind: 'token'; token: string } | { kind: 'join-token'; token: string };

export interface Svid {
  readonly spiffeId: string;
  readonly privateKeyPem: string;
  /** The leaf, then intermediates, PEM. */
  readonly certChainPem: string;
  readonly expiresAt: number;
}

/** A JWT-SVID the CA minted for this workload. The token is a credential: never log it. */
export interface JwtSvid {
  readonly token: string;
  readonly spiffeId: string;
  readonly expiresAt: number;
}

export interface Bundle {
  readonly sequence: number;
  readonly rootsPem: string;
}

export interface CaClientOptions {
  /** host:port of the CA's gRPC endpoint. */
  readonly address: string;
  /** The SPIFFE ID the CA's serving certificate must carry. */
  readonly caSpiffeId: string;
  /** Roots to trust before the first bundle arrives (PEM). */
  readonly bootstrapRootsPem: string;
  /** Called for each bootstrap: a projected token is re-read, since the kubelet rotates it. */
  readonly credential: () => Promise<BootstrapCredential>;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly random?: () => number;
  /** Per-call deadline; default 10 s. */
  readonly callTimeoutMs?: number;
  readonly onSvid?: (svid: Svid) => void;
  readonly onBundle?: (bundle: Bundle) => void;
}

/**
 * Keeps an X.509-SVID fresh: requests one, renews it at half-life with jitter, retries with
 * jittered backoff while the CA is unavailable (the current SVID stays in use until it
 * expires), and follows the trust bundle stream.
 */
export class CaClient {
  private svid: Svid | undefined;
  private bundle: Bundle;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private stream: ClientReadableStream<TrustBundleMessage> | undefined;
  private readonly renewBackoff: Backoff;
  private readonly streamBackoff: Backoff;
  private readonly logger: Logger;
  private readonly Service = loadCaProto().CertificateService;

  constructor(private readonly options: CaClientOptions) {
    this.bundle = { sequence: 0, rootsPem: options.bootstrapRootsPem };
    this.logger = options.logger ?? silentLogger;
    this.renewBackoff = new Backoff(500, 30_000, options.random);
    this.streamBackoff = new Backoff(500, 30_000, options.random);
  }

  /** The SVID, while it is valid. */
  current(): Svid | undefined {
    return this.svid && this.options.clock.now() < this.svid.expiresAt ? this.svid : undefined;
  }

  trustBundle(): Bundle {
    return this.bundle;
  }

  /** Resolves once the first SVID arrived; keeps renewing until stop(). */
  async start(): Promise<Svid> {
    for (;;) {
      if (this.stopped) throw new Error('CA client stopped');
      try {
        const svid = await this.renew();
        this.watchBundle();
        return svid;
      } catch (error) {
        await this.sleep(this.renewBackoff.next(), error);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.cancel();
  }

  private async sleep(ms: number, error: unknown): Promise<void> {
    this.logger.warn({ retryInMs: ms, error: (error as Error).message }, 'CA unavailable; retrying');
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  private channelCredentials(withSvid: Svid | undefined): ChannelCredentials {
    const expected = `URI:${this.options.caSpiffeId}`;
    return credentials.createSsl(
      Buffer.from(this.bundle.rootsPem),
      withSvid ? Buffer.from(withSvid.privateKeyPem) : null,
      withSvid ? Buffer.from(withSvid.certChainPem) : null,
      {
        // The CA is identified by its SPIFFE ID, not by a DNS name.
        checkServerIdentity: (_host, cert) =>
          cert.subjectaltname === expected ? undefined : new Error('CA server identity mismatch'),
      },
    );
  }

  /**
   * Mints a JWT-SVID for `audience`, authenticated by the current SVID over mTLS only: a
   * bootstrap credential (a single-use join token, a projected token) is never spent on it.
   */
  async mintJwtSvid(audience: string, ttlSeconds = 0): Promise<JwtSvid> {
    if (typeof audience !== 'string' || audience.length === 0 || audience.length > 512) {
      throw new TypeError('audience must be a string of 1 to 512 characters');
    }
    const svid = this.current();
    if (!svid) throw new Error('no valid SVID to authenticate a JWT-SVID request');
    const { client, metadata } = await this.client(svid);
    try {
      const deadline = new Date(Date.now() + (this.options.callTimeoutMs ?? 10_000));
      const response = await new Promise<MintJWTSVIDResponse__Output | undefined>((resolve, reject) =>
        client.MintJWTSVID({ audience: [audience], ttlSeconds }, metadata, { deadline }, (error, value) =>
          error ? reject(error) : resolve(value),
        ),
      );
      if (!response?.token) throw new Error('empty JWT-SVID response');
      return { token: response.token, spiffeId: response.spiffeId, expiresAt: response.expiresAtUnixMs };
    } finally {
      client.close();
    }
  }

  private async client(
    svid: Svid | undefined = this.current(),
  ): Promise<{ client: CertificateServiceClient; metadata: Metadata }> {
    const metadata = new Metadata();
    if (!svid) {
      const credential = await this.options.credential();
      if (credential.kind === 'token') metadata.set('authorization', `Bearer ${credential.token}`);
      else metadata.set('lanyard-join-token', credential.token);
    }
    // A fixed TLS server name: the CA is checked by SPIFFE ID, and SNI may not be an IP address.
    const channelOptions = {
      'grpc.ssl_target_name_override': 'lanyard-ca',
      'grpc.default_authority': 'lanyard-ca',
    };
    return {
      client: new this.Service(this.options.address, this.channelCredentials(svid), channelOptions),
      metadata,
    };
  }

  private async renew(): Promise<Svid> {
    const { privateKeyPem, csr } = await createKeyAndCsr();
    const { client, metadata } = await this.client();
    try {
      const deadline = new Date(Date.now() + (this.options.callTimeoutMs ?? 10_000));
      const response = await new Promise<IssueX509SVIDResponse__Output | undefined>((resolve, reject) =>
        client.IssueX509SVID({ csr }, metadata, { deadline }, (error, value) =>
          error ? reject(error) : resolve(value),
        ),
      );
      if (!response) throw new Error('empty response');
      const chain = response.certChain.map((der) => new X509Certificate(der));
      const svid: Svid = {
        spiffeId: response.spiffeId,
        privateKeyPem,
        certChainPem: chain.map((cert) => certificatePem(cert.raw)).join(''),
        expiresAt: response.expiresAtUnixMs,
      };
      if (response.bundle) this.acceptBundle(response.bundle);
      this.svid = svid;
      this.renewBackoff.reset();
      this.options.onSvid?.(svid);
      this.schedule(renewalDelay(this.options.clock.now(), svid.expiresAt, this.options.random));
      return svid;
    } finally {
      client.close();
    }
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renew().catch((error: unknown) => {
        const delay = this.renewBackoff.next();
        this.logger.warn(
          { retryInMs: delay, error: (error as Error).message, svidValid: this.current() !== undefined },
          'SVID renewal failed; keeping the current SVID until it expires',
        );
        this.schedule(delay);
      });
    }, delayMs);
    this.timer.unref();
  }

  private acceptBundle(message: TrustBundleMessage): void {
    if (message.sequence <= this.bundle.sequence && this.bundle.sequence !== 0) return;
    this.bundle = { sequence: message.sequence, rootsPem: message.roots.map(certificatePem).join('') };
    this.options.onBundle?.(this.bundle);
  }

  private watchBundle(): void {
    if (this.stopped) return;
    this.client()
      .then(({ client, metadata }) => {
        const stream = client.WatchTrustBundle({}, metadata);
        this.stream = stream;
        stream.on('data', (message: TrustBundleMessage) => {
          this.streamBackoff.reset();
          this.acceptBundle(message);
        });
        // Every end of the stream, clean or not, comes with a status: reconnect then.
        stream.on('error', () => undefined);
        stream.on('status', () => {
          client.close();
          if (this.stopped) return;
          const delay = this.streamBackoff.next();
          this.logger.warn({ retryInMs: delay }, 'trust bundle stream ended; reconnecting');
          setTimeout(() => this.watchBundle(), delay).unref();
        });
      })
      .catch(() => setTimeout(() => this.watchBundle(), this.streamBackoff.next()).unref());
  }
}
