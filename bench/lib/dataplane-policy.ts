// The AuthPolicy of the data-plane benchmark, shared with the micro benchmark's per-request
// decision case so that both measure the very same policy: 50 rules with path templates, two
// roles, a rate limit (never hit) on the rule that the requests match.
import { DEMO_AUDIENCE, DEMO_ISSUER } from '../../dev/issuer.ts';

export const BENCH_RULES = 50;
/** The requests hit rule r48 (reader, rate-limited, far from the first rule). */
export const BENCH_PATH = `/api/v1/resource-${BENCH_RULES - 2}/42`;
export const BENCH_CLIENT_ID = 'spiffe://cluster.local/ns/bench/sa/client';

/** The server workload's AuthPolicy, with the demo issuer's JWKS inline. */
export function benchPolicy(jwksJson: string) {
  return {
    apiVersion: 'lanyard.dev/v1alpha1',
    kind: 'AuthPolicy',
    metadata: { name: 'server', namespace: 'bench' },
    spec: {
      selector: { matchLabels: { app: 'server' } },
      userTokens: [{ issuer: DEMO_ISSUER, jwks: jwksJson, audiences: [DEMO_AUDIENCE] }],
      permissions: Array.from({ length: BENCH_RULES }, (_, i) => ({
        name: `p${i}`,
        methods: ['GET'],
        paths: [`/api/v1/resource-${i}/{id}`, `/api/v1/resource-${i}/{id}/items/{**}`],
      })),
      roles: [
        { name: 'reader', permissions: Array.from({ length: BENCH_RULES }, (_, i) => `p${i}`) },
        { name: 'auditor', permissions: ['p0'] },
      ],
      action: 'ALLOW',
      rules: Array.from({ length: BENCH_RULES }, (_, i) => ({
        name: `r${i}`,
        from: [{ principals: [BENCH_CLIENT_ID] }],
        to: [{ permission: `p${i}` }],
        when: [{ role: i % 2 === 0 ? 'reader' : 'auditor' }],
        // The benchmark's requests match the last rule: every rule before it is looked at.
        ...(i === BENCH_RULES - 2 ? { rateLimit: { requests: 1_000_000, per: '1s', by: 'user' } } : {}),
      })),
    },
  };
}
