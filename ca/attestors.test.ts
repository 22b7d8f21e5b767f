import { describe, expect, it } from 'vitest';
import type { PodFacts, PodLookup } from '../kube/pods.ts';
import type { TokenReviewer, TokenReviewResult } from '../kube/token-review.ts';
import { FakeClock } from '../test/helpers/clock.ts';
import { JoinTokens } from './join-tokens.ts';
import { TokenReviewAttestor } from './token-review-attestor.ts';

const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const code = (code: string): unknown => expect.objectContaining({ code });

function accepted(
  extra: Record<string, string[]> = {
    'authentication.kubernetes.io/pod-name': ['web-1'],
    'authentication.kubernetes.io/pod-uid': ['uid-1'],
  },
): TokenReviewResult {
  return {
    authenticated: true,
    username: 'system:serviceaccount:shop:web',
    audiences: ['lanyard-ca'],
    extra,
  };
}

class FakeReviewer implements TokenReviewer {
  calls = 0;
  constructor(public result: TokenReviewResult | Error) {}
  review(): Promise<TokenReviewResult> {
    this.calls += 1;
    return this.result instanceof Error ? Promise.reject(this.result) : Promise.resolve(this.result);
  }
}

class FakePods implements PodLookup {
  constructor(
    public pods: Record<string, PodFacts | Error> = {
      'shop/web-1': { uid: 'uid-1', serviceAccountName: 'web' },
    },
  ) {}
  get(namespace: string, name: string): Promise<PodFacts | undefined> {
    const pod = this.pods[`${namespace}/${name}`];
    return pod instanceof Error ? Promise.reject(pod) : Promise.resolve(pod);
  }
}

function attestor(
  reviewer: TokenReviewer,
  pods: PodLookup = new FakePods(),
  clock = new FakeClock(),
  policy = {},
) {
  return new TokenReviewAttestor({ trustDomain: 'cluster.local', reviewer, pods, clock, policy });
}

describe('TokenReviewAttestor', () => {
  it('returns the identity of a pod-bound token whose Pod exists with the same UID', async () => {
    await expect(attestor(new FakeReviewer(accepted())).attest('token')).resolves.toEqual(identity);
  });

  it('refuses a token TokenReview rejects (another audience, expired)', async () => {
    const reviewer = new FakeReviewer({
      authenticated: false,
      audiences: [],
      extra: {},
      error: 'token audiences is invalid',
    });
    await expect(attestor(reviewer).attest('token')).rejects.toThrow(code('ERR_CA_UNAUTHENTICATED'));
  });

  it('refuses an authenticated token whose audiences lack lanyard-ca', async () => {
    const reviewer = new FakeReviewer({ ...accepted(), audiences: ['other'] });
    await expect(attestor(reviewer).attest('token')).rejects.toThrow(code('ERR_CA_UNAUTHENTICATED'));
  });

  it('refuses tokens not bound to a Pod, of a deleted Pod, or of a Pod recreated under the same name', async () => {
    await expect(attestor(new FakeReviewer(accepted({}))).attest('t')).rejects.toThrow(
      code('ERR_CA_UNAUTHENTICATED'),
    );
    await expect(attestor(new FakeReviewer(accepted()), new FakePods({})).attest('t')).rejects.toThrow(
      code('ERR_CA_UNAUTHENTICATED'),
    );
    const recreated = new FakePods({ 'shop/web-1': { uid: 'uid-2', serviceAccountName: 'web' } });
    await expect(attestor(new FakeReviewer(accepted()), recreated).attest('t')).rejects.toThrow(
      code('ERR_CA_UNAUTHENTICATED'),
    );
  });

  it('fails closed with UNAVAILABLE when TokenReview or the Pod lookup is unreachable', async () => {
    await expect(attestor(new FakeReviewer(new Error('ECONNREFUSED'))).attest('t')).rejects.toThrow(
      code('ERR_CA_UNAVAILABLE'),
    );
    const down = new FakePods({ 'shop/web-1': new Error('ECONNREFUSED') });
    await expect(attestor(new FakeReviewer(accepted()), down).attest('t')).rejects.toThrow(
      code('ERR_CA_UNAVAILABLE'),
    );
  });

  it('applies namespace and ServiceAccount deny and allow lists', async () => {
    const denied = attestor(new FakeReviewer(accepted()), new FakePods(), new FakeClock(), {
      denyNamespaces: ['shop'],
    });
    await expect(denied.attest('t')).rejects.toThrow(code('ERR_CA_PERMISSION_DENIED'));
    const notAllowed = attestor(new FakeReviewer(accepted()), new FakePods(), new FakeClock(), {
      allowServiceAccounts: ['shop/orders'],
    });
    await expect(notAllowed.attest('t')).rejects.toThrow(code('ERR_CA_PERMISSION_DENIED'));
  });

  it('caches a successful attestation briefly, per token', async () => {
    const reviewer = new FakeReviewer(accepted());
    const clock = new FakeClock();
    const cached = attestor(reviewer, new FakePods(), clock);
    await cached.attest('t');
    await cached.attest('t');
    expect(reviewer.calls).toBe(1);
    clock.advance(10_000);
    await cached.attest('t');
    expect(reviewer.calls).toBe(2);
    await cached.attest('other');
    expect(reviewer.calls).toBe(3);
  });
});

describe('JoinTokens', () => {
  it('are single-use and bound to one identity', async () => {
    const tokens = new JoinTokens(new FakeClock());
    const token = tokens.create(identity);
    await expect(tokens.attest(token)).resolves.toEqual(identity);
    await expect(tokens.attest(token)).rejects.toThrow(code('ERR_CA_UNAUTHENTICATED'));
  });

  it('expire', async () => {
    const clock = new FakeClock();
    const tokens = new JoinTokens(clock);
    const token = tokens.create(identity, 60_000);
    clock.advance(60_000);
    await expect(tokens.attest(token)).rejects.toThrow(code('ERR_CA_UNAUTHENTICATED'));
  });

  it('refuse unknown tokens and identities the policy denies', async () => {
    const tokens = new JoinTokens(new FakeClock(), { denyServiceAccounts: ['shop/web'] });
    await expect(tokens.attest('made-up')).rejects.toThrow(code('ERR_CA_UNAUTHENTICATED'));
    await expect(tokens.attest(tokens.create(identity))).rejects.toThrow(code('ERR_CA_PERMISSION_DENIED'));
  });
});
