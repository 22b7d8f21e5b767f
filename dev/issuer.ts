// A test user-token issuer: an ES256 key made at start, and tokens with whatever claims are
// asked for. The benchmarks (bench/) use it to measure the data plane without sign-ins;
// `lanyard dev` uses the built-in IdP instead (dev/idp.ts).
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export const DEMO_ISSUER = 'https://login.demo.lanyard.dev';
export const DEMO_AUDIENCE = 'demo';

export interface DemoUser {
  sub: string;
  roles: string[];
  /** Authentication methods (RFC 8176): ['pwd'], or ['pwd', 'otp', 'mfa'] after MFA. */
  amr: string[];
}

export interface DemoIssuer {
  /** The public JWKS, as the JSON text an AuthPolicy's inline `jwks` holds. */
  jwksJson: string;
  token(user: DemoUser, ttlSeconds?: number): Promise<string>;
}

export async function createDemoIssuer(): Promise<DemoIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    jwksJson: JSON.stringify({ keys: [jwk] }),
    token: (user, ttlSeconds = 300) =>
      new SignJWT({ roles: user.roles, amr: user.amr })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(DEMO_ISSUER)
        .setAudience(DEMO_AUDIENCE)
        .setSubject(user.sub)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .setJti(randomUUID())
        .sign(privateKey),
  };
}
