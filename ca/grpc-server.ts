import {
  experimental,
  Server,
  type ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import type { Clock } from '../lib/clock.ts';
import { createKeyAndCsr } from '../lib/csr.ts';
import { isLanyardError } from '../lib/errors.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { certificatePem } from '../lib/pem.ts';
import type { WorkloadIdentity } from '../lib/spiffe.ts';
import { loadCaProto, type CertificateServiceHandlers } from '../proto/load.ts';
import type { IssueX509SVIDRequest__Output } from '../proto/generated/lanyard/ca/v1/IssueX509SVIDRequest.ts';
import type { IssueX509SVIDResponse } from '../proto/generated/lanyard/ca/v1/IssueX509SVIDResponse.ts';
import type { MintJWTSVIDRequest__Output } from '../proto/generated/lanyard/ca/v1/MintJWTSVIDRequest.ts';
import type { MintJWTSVIDResponse } from '../proto/generated/lanyard/ca/v1/MintJWTSVIDResponse.ts';
import type { TrustBundle } from '../proto/generated/lanyard/ca/v1/TrustBundle.ts';
import type { WatchTrustBundleRequest__Output } from '../proto/generated/lanyard/ca/v1/WatchTrustBundleRequest.ts';
import type { CallerAuthenticator } from './caller-auth.ts';
import { pemToDer, type CertificateAuthority } from './certificate-authority.ts';
import { caError } from './errors.ts';
import { reasonOf, toServiceError } from './grpc-errors.ts';
import type { TrustBundle as Bundle } from './keyring.ts';
import type { CaMetrics } from './metrics.ts';
import { RateLimiter } from './rate-limit.ts';
import { TurnQueue } from './turn-queue.ts';
import { MutableCertificateProvider } from './tls-provider.ts';

export interface CaServerOptions {
  readonly ca: CertificateAuthority;
  readonly auth: CallerAuthenticator;
  readonly trustDomain: string;
  /** The identity in the CA's own serving certificate, which clients check. */
  readonly serverIdentity: WorkloadIdentity;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly metrics?: CaMetrics;
  /** Signing requests per second per caller identity; default 500. */
  readonly ratePerSecond?: number;
  /**
   * Credential checks (TokenReview, join tokens) per second per client address, before the
   * caller is known; default 20, bursts of twice that. Bounds what a flood of bogus tokens
   * costs the API server.
   */
  readonly attestationsPerSecond?: number;
  /** Default 0.0.0.0:15012. */
  readonly host?: string;
  readonly port?: number;
  /** Other services served on the same port and TLS, e.g. the policy stream. */
  readonly services?: readonly {
    definition: ServiceDefinition;
    implementation: UntypedServiceImplementation;
  }[];
  /**
   * The longest run of signing, in ms, before the server turns to writing responses and reading
   * requests again (see turn-queue.ts); default 5.
   */
  readonly signingTurnMs?: number;
  /** The largest request message; default 64 KiB (a CSR is far smaller). */
  readonly maxMessageBytes?: number;
}

export interface CaServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The trust bundle as sent with every SVID and on the bundle stream, decoded once per version
 * of the bundle (the keyring replaces its roots array whenever the roots change).
 */
function bundleMessages(trustDomain: string): (bundle: Bundle) => TrustBundle {
  let last: { rootPems: readonly string[]; message: TrustBundle } | undefined;
  return (bundle) => {
    if (last?.rootPems !== bundle.rootPems || last.message.sequence !== bundle.sequence) {
      const message = { trustDomain, roots: bundle.rootPems.map(pemToDer), sequence: bundle.sequence };
      last = { rootPems: bundle.rootPems, message };
    }
    return last.message;
  };
}

/** Serves lanyard.ca.v1.CertificateService over TLS; see proto/ca.proto for authentication. */
export async function startCaServer(options: CaServerOptions): Promise<CaServer> {
  const logger = options.logger ?? silentLogger;
  const { ca, auth, metrics, trustDomain } = options;
  const bundleMessage = bundleMessages(trustDomain);
  const turns = new TurnQueue(options.signingTurnMs ?? 5);
  const limiter = new RateLimiter(options.ratePerSecond ?? 500, () => options.clock.now());
  const attestations = options.attestationsPerSecond ?? 20;
  const attestationLimiter = new RateLimiter(attestations, () => options.clock.now(), 2 * attestations);
  const tls = new MutableCertificateProvider();
  const publishRoots = (bundle: Bundle) => tls.setCa(bundle.rootPems.join(''));
  publishRoots(ca.bundle());
  const unsubscribeRoots = ca.onBundleChange(publishRoots);

  let renewTimer: NodeJS.Timeout | undefined;
  const renewServingCert = async (): Promise<void> => {
    const { privateKeyPem, csr } = await createKeyAndCsr();
    // The longest TTL the CA allows: the request is clamped to its bound.
    const issued = ca.issueX509Svid({
      csr,
      identity: options.serverIdentity,
      ttlMs: Number.MAX_SAFE_INTEGER,
    });
    tls.setIdentity(issued.chain.map(certificatePem).join(''), privateKeyPem);
    const halfLife = (issued.expiresAt - options.clock.now()) / 2;
    renewTimer = setTimeout(() => {
      renewServingCert().catch((error: unknown) =>
        logger.error({ reason: reasonOf(error) }, 'CA serving certificate renewal failed'),
      );
    }, halfLife);
    renewTimer.unref();
  };
  await renewServingCert();

  async function caller<Req, Res>(call: ServerUnaryCall<Req, Res> | ServerWritableStream<Req, Res>) {
    const peer = call.getAuthContext()?.sslPeerCertificate?.raw;
    // A caller without an SVID costs a credential check; limit those per address (not port).
    if (!peer && !attestationLimiter.take(call.getPeer().replace(/:\d+$/, ''))) {
      throw caError('ERR_CA_RATE_LIMITED', 'too many credential checks from this address');
    }
    return auth.authenticate(call.metadata, peer);
  }

  function fail(kind: string, error: unknown): Partial<ReturnType<typeof toServiceError>> {
    const reason = reasonOf(error);
    metrics?.failed.inc({ kind, reason });
    const detail = isLanyardError(error) ? error.detail : { message: String(error) };
    if (reason === 'internal') logger.error({ kind, reason, detail }, 'CA request failed');
    else logger.warn({ kind, reason, detail }, 'CA request refused');
    return toServiceError(error);
  }

  /**
   * A unary signing method: authenticates the caller, applies its rate limit, then signs in a
   * turn of the signing queue (skipped if the caller has gone by then).
   */
  function signing<Req, Res>(kind: 'x509' | 'jwt', sign: (request: Req, identity: WorkloadIdentity) => Res) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const stop = metrics?.latency.startTimer({ kind });
      const refuse = (error: unknown) => {
        callback(fail(kind, error));
        stop?.();
      };
      caller(call)
        .then((identity) => {
          if (!limiter.take(`${identity.namespace}/${identity.serviceAccount}`)) {
            throw caError('ERR_CA_RATE_LIMITED', 'signing rate limit exceeded');
          }
          turns.push(() => {
            if (call.cancelled) return;
            try {
              const response = sign(call.request, identity);
              metrics?.issued.inc({ kind });
              callback(null, response);
              stop?.();
            } catch (error) {
              refuse(error);
            }
          });
        })
        .catch(refuse);
    };
  }

  const handlers: CertificateServiceHandlers = {
    IssueX509SVID: signing(
      'x509',
      (request: IssueX509SVIDRequest__Output, identity): IssueX509SVIDResponse => {
        const issued = ca.issueX509Svid({
          csr: request.csr,
          identity,
          ...(request.ttlSeconds > 0 ? { ttlMs: request.ttlSeconds * 1000 } : {}),
        });
        return {
          spiffeId: issued.spiffeId,
          certChain: [...issued.chain],
          bundle: bundleMessage(issued.bundle),
          expiresAtUnixMs: issued.expiresAt,
        };
      },
    ),

    MintJWTSVID: signing('jwt', (request: MintJWTSVIDRequest__Output, identity): MintJWTSVIDResponse => {
      const minted = ca.mintJwtSvid({
        identity,
        audience: request.audience,
        ...(request.ttlSeconds > 0 ? { ttlMs: request.ttlSeconds * 1000 } : {}),
      });
      return { token: minted.token, spiffeId: minted.spiffeId, expiresAtUnixMs: minted.expiresAt };
    }),

    WatchTrustBundle(call: ServerWritableStream<WatchTrustBundleRequest__Output, TrustBundle>) {
      caller(call)
        .then(() => {
          if (call.cancelled) return;
          call.write(bundleMessage(ca.bundle()));
          const unsubscribe = ca.onBundleChange((bundle) => call.write(bundleMessage(bundle)));
          call.once('cancelled', unsubscribe);
          call.once('close', unsubscribe);
          call.once('error', unsubscribe);
        })
        // grpc-js turns an 'error' event on a server stream into the call's status.
        .catch((error: unknown) => call.emit('error', fail('bundle', error)));
    },
  };

  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes ?? 64 * 1024,
    // Keep long-lived bundle streams alive through idle NATs and proxies.
    'grpc.keepalive_time_ms': 60_000,
    // Channelz keeps per-call counters and traces that nothing here reads.
    'grpc.enable_channelz': 0,
  });
  server.addService(loadCaProto().CertificateService.service, handlers);
  for (const service of options.services ?? []) server.addService(service.definition, service.implementation);
  const credentials: ServerCredentials = experimental.createCertificateProviderServerCredentials(
    tls,
    tls,
    false,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host ?? '0.0.0.0'}:${options.port ?? 15012}`, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearTimeout(renewTimer);
        unsubscribeRoots();
        server.forceShutdown();
        resolve();
      }),
  };
}
