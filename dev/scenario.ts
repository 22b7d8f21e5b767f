// The demo's traffic, with user tokens from the built-in IdP: allowed calls, denials, a
// password-only token sent back for MFA step-up, the same user after TOTP, a rate-limited
// burst, a user token carried two hops, and refresh-token rotation with reuse detection. Each
// step says what it expects, so `--once` can check it.
import type { DevMesh, DriverResponse } from './mesh.ts';
import type { Persona } from './sessions.ts';

export interface StepResult {
  name: string;
  expected: number;
  status: number;
  ok: boolean;
  /** Not run this round: bob's refund limit has not refilled since the last burst. */
  skipped?: boolean;
  detail?: string;
}

/** What rounds hand on to later rounds. */
export interface ScenarioMemory {
  /** When bob's last refund burst ended: his 3-a-minute limit is full again a minute later. */
  burstEndedAt?: number;
}

const BURST_REFILL_MS = 61_000;

/** What one round's steps hand on to later steps: the refresh tokens of the rotation. */
interface RoundState {
  spent?: string;
  latest?: string;
}

interface Step {
  name: string;
  expected: number;
  run(mesh: DevMesh, round: RoundState): Promise<DriverResponse>;
  /** Extra check on the answer; returns a problem or undefined. */
  check?: (body: string, headers: DriverResponse['headers']) => string | undefined;
  /** Part of the rate-limit burst, which runs only with a full limit (once a minute at most). */
  burst?: true;
}

function call(persona: Persona | undefined, method: string, path: string): Step['run'] {
  return async (mesh) =>
    mesh.call(method, path, persona ? await mesh.sessions.accessToken(persona) : undefined);
}

/** A token endpoint answer as a step's response: the status and the OAuth error, if any. */
async function refresh(mesh: DevMesh, token: string | undefined): Promise<DriverResponse> {
  if (!token) throw new Error('no refresh token from the earlier step');
  const answer = await mesh.sessions.client.refresh(token);
  const body = 'tokens' in answer ? '{}' : JSON.stringify({ error: answer.error });
  return { status: answer.status, body, headers: {} };
}

const oauthError =
  (expected: string) =>
  (body: string): string | undefined =>
    (JSON.parse(body) as { error?: string }).error === expected ? undefined : `not ${expected}`;

const refund = (n: number): Step => ({
  name: `bob after TOTP (amr pwd otp mfa) refunds (${n} of 3 a minute)`,
  expected: 200,
  run: call('bob-mfa', 'POST', `/shop/orders/${20 + n}/refund`),
  burst: true,
});

export const SCENARIO: readonly Step[] = [
  {
    name: 'alice reads an order: web → orders → payments, her token carried two hops',
    expected: 200,
    run: call('alice', 'GET', '/shop/orders/17'),
    check: (body) =>
      (JSON.parse(body) as { payment?: { user?: string } }).payment?.user === 'alice'
        ? undefined
        : 'payments did not see alice',
  },
  {
    name: 'a call without a user token: web lets it in, orders refuses it',
    expected: 403,
    run: call(undefined, 'GET', '/shop/orders/17'),
  },
  {
    name: 'mallory (no role) tries a refund: denied',
    expected: 403,
    run: call('mallory', 'POST', '/shop/orders/17/refund'),
  },
  {
    name: 'alice (viewer) tries a refund: denied',
    expected: 403,
    run: call('alice', 'POST', '/shop/orders/17/refund'),
  },
  {
    name: 'bob (manager, password-only token) tries a refund: step-up to MFA',
    expected: 401,
    run: call('bob-password', 'POST', '/shop/orders/17/refund'),
    check: (_body, headers) =>
      String(headers['www-authenticate'] ?? '').includes('insufficient_user_authentication')
        ? undefined
        : 'no RFC 9470 challenge',
  },
  refund(1),
  refund(2),
  refund(3),
  {
    name: 'bob refunds a fourth time within the minute: rate limited',
    expected: 429,
    run: call('bob-mfa', 'POST', '/shop/orders/24/refund'),
    check: (_body, headers) => (headers['retry-after'] ? undefined : 'no Retry-After'),
    burst: true,
  },
  {
    name: 'anyone calling /shop/admin: denied mesh-wide',
    expected: 403,
    run: call('bob-mfa', 'GET', '/shop/admin'),
  },
  {
    name: 'a path trick (/shop/x/../admin) is normalized first: still denied',
    expected: 403,
    run: call('alice', 'GET', '/shop/x/../admin'),
  },
  {
    name: "alice's refresh token is rotated at the IdP: new tokens, the old refresh token spent",
    expected: 200,
    run: async (mesh, round) => {
      const before = await mesh.sessions.tokens('alice');
      const answer = await mesh.sessions.client.refresh(before.refreshToken);
      if (!('tokens' in answer)) return { status: answer.status, body: '{}', headers: {} };
      round.spent = before.refreshToken;
      round.latest = answer.tokens.refreshToken;
      mesh.sessions.replace('alice', answer.tokens);
      const rotated = answer.tokens.refreshToken !== before.refreshToken;
      return { status: 200, body: JSON.stringify({ rotated }), headers: {} };
    },
    check: (body) => ((JSON.parse(body) as { rotated: boolean }).rotated ? undefined : 'not rotated'),
  },
  {
    name: 'alice reads an order with her refreshed access token',
    expected: 200,
    run: call('alice', 'GET', '/shop/orders/18'),
  },
  {
    name: 'the spent refresh token is replayed: refused, and its whole family revoked',
    expected: 400,
    run: (mesh, round) => refresh(mesh, round.spent),
    check: oauthError('invalid_grant'),
  },
  {
    name: "alice's newest refresh token is refused too: the family is revoked",
    expected: 400,
    run: async (mesh, round) => {
      // Her session is over: the next round signs her in again.
      mesh.sessions.forget('alice');
      return refresh(mesh, round.latest);
    },
    check: oauthError('invalid_grant'),
  },
];

/** One round. Pass the same memory to every round of a run, so that rounds do not trip over each other. */
export async function runScenario(
  mesh: DevMesh,
  onStep?: (result: StepResult) => void,
  memory: ScenarioMemory = {},
): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const round: RoundState = {};
  const burstDue = memory.burstEndedAt === undefined || Date.now() - memory.burstEndedAt >= BURST_REFILL_MS;
  for (const [index, step] of SCENARIO.entries()) {
    if (step.burst && !burstDue) {
      const result = { name: step.name, expected: step.expected, status: 0, ok: true, skipped: true };
      results.push(result);
      onStep?.(result);
      continue;
    }
    let result: StepResult;
    try {
      const answer = await step.run(mesh, round);
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
    if (step.burst && !SCENARIO[index + 1]?.burst) memory.burstEndedAt = Date.now();
    results.push(result);
    onStep?.(result);
  }
  return results;
}
