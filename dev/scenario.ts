// The demo's traffic: allowed calls, denials, a missing-MFA step-up, a rate-limited burst, and
// a user token carried two hops. Each step says what it expects, so `--once` can check it.
import type { DevMesh } from './mesh.ts';

export interface StepResult {
  name: string;
  expected: number;
  status: number;
  ok: boolean;
  detail?: string;
}

interface Step {
  name: string;
  user?: { sub: string; roles: string[]; amr: string[] };
  method: string;
  path: string;
  expected: number;
  /** Extra check on the answer; returns a problem or undefined. */
  check?: (body: string, headers: Record<string, string | string[] | undefined>) => string | undefined;
}

const alice = { sub: 'alice', roles: ['viewer'], amr: ['pwd'] };
const bob = { sub: 'bob', roles: ['manager'], amr: ['pwd'] };
const bobWithMfa = { sub: 'bob', roles: ['manager'], amr: ['pwd', 'otp', 'mfa'] };
const mallory = { sub: 'mallory', roles: [], amr: ['pwd'] };

export const SCENARIO: readonly Step[] = [
  {
    name: 'alice reads an order: web → orders → payments, her token carried two hops',
    user: alice,
    method: 'GET',
    path: '/shop/orders/17',
    expected: 200,
    check: (body) =>
      (JSON.parse(body) as { payment?: { user?: string } }).payment?.user === 'alice'
        ? undefined
        : 'payments did not see alice',
  },
  {
    name: 'a call without a user token: web lets it in, orders refuses it',
    method: 'GET',
    path: '/shop/orders/17',
    expected: 403,
  },
  {
    name: 'mallory (no role) tries a refund: denied',
    user: mallory,
    method: 'POST',
    path: '/shop/orders/17/refund',
    expected: 403,
  },
  {
    name: 'bob (manager, password only) tries a refund: step-up to MFA',
    user: bob,
    method: 'POST',
    path: '/shop/orders/17/refund',
    expected: 401,
    check: (_body, headers) =>
      String(headers['www-authenticate'] ?? '').includes('insufficient_user_authentication')
        ? undefined
        : 'no RFC 9470 challenge',
  },
  ...[1, 2, 3].map((n) => ({
    name: `bob with MFA refunds (${n} of 3 a minute)`,
    user: bobWithMfa,
    method: 'POST',
    path: `/shop/orders/${20 + n}/refund`,
    expected: 200,
  })),
  {
    name: 'bob refunds a fourth time within the minute: rate limited',
    user: bobWithMfa,
    method: 'POST',
    path: '/shop/orders/24/refund',
    expected: 429,
    check: (_body, headers) => (headers['retry-after'] ? undefined : 'no Retry-After'),
  },
  {
    name: 'anyone calling /shop/admin: denied mesh-wide',
    user: bobWithMfa,
    method: 'GET',
    path: '/shop/admin',
    expected: 403,
  },
  {
    name: 'a path trick (/shop/x/../admin) is normalized first: still denied',
    user: alice,
    method: 'GET',
    path: '/shop/x/../admin',
    expected: 403,
  },
];

export async function runScenario(
  mesh: DevMesh,
  onStep?: (result: StepResult) => void,
): Promise<StepResult[]> {
  const results: StepResult[] = [];
  for (const step of SCENARIO) {
    const token = step.user ? await mesh.issuer.token(step.user) : undefined;
    let result: StepResult;
    try {
      const answer = await mesh.call(step.method, step.path, token);
      const problem = answer.status === step.expected ? step.check?.(answer.body, answer.headers) : undefined;
      result = {
        name: step.name,
        expected: step.expected,
        status: answer.status,
        ok: answer.status === step.expected && problem === undefined,
        ...(problem ? { detail: problem } : {}),
      };
    } catch (error) {
      result = {
        name: step.name,
        expected: step.expected,
        status: 0,
        ok: false,
        detail: (error as Error).message,
      };
    }
    results.push(result);
    onStep?.(result);
  }
  return results;
}
