import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { CertificateAuthority } from './certificate-authority.ts';

export interface OidcHttpOptions {
  readonly ca: CertificateAuthority;
  /** Served on /metrics when given: the host process's registry, not the global one. */
  readonly registry?: Registry;
}

/**
 * The CA's HTTP endpoints: OIDC discovery and the JWKS, so that anyone can verify a JWT-SVID,
 * plus /healthz and /metrics. Build it, then listen (port 15014 by default) or inject in tests.
 */
export function buildOidcHttp(options: OidcHttpOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const { ca } = options;
  const issuer = ca.jwtIssuer.replace(/\/$/, '');

  app.get('/.well-known/openid-configuration', (_request, reply) => {
    void reply.header('cache-control', 'public, max-age=300');
    return {
      issuer: ca.jwtIssuer,
      jwks_uri: `${issuer}/keys`,
      id_token_signing_alg_values_supported: ['ES256'],
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti'],
    };
  });

  app.get('/keys', (_request, reply) => {
    // Short: verifiers must see a new key before tokens signed with it are common.
    void reply.header('cache-control', 'public, max-age=60');
    return ca.jwks();
  });

  app.get('/healthz', () => ({ status: 'ok' }));

  if (options.registry) {
    const registry = options.registry;
    app.get('/metrics', async (_request, reply) => {
      void reply.header('content-type', registry.contentType);
      return registry.metrics();
    });
  }
  return app;
}
