import { describe, expect, it } from 'vitest';
import { isLanyardError } from './errors.ts';
import { parseSpiffeId, parseTrustDomain, workloadIdentityOf, workloadSpiffeId } from './spiffe.ts';

describe('parseSpiffeId', () => {
  it('parses a workload ID into trust domain and segments', () => {
    const id = parseSpiffeId('spiffe://cluster.local/ns/shop/sa/web');
    expect(id.trustDomain).toBe('cluster.local');
    expect(id.path).toBe('/ns/shop/sa/web');
    expect(id.segments).toEqual(['ns', 'shop', 'sa', 'web']);
    expect(id.toString()).toBe('spiffe://cluster.local/ns/shop/sa/web');
    expect(workloadIdentityOf(id)).toEqual({
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'web',
    });
  });

  it('accepts a bare trust domain ID', () => {
    expect(parseSpiffeId('spiffe://example.org').path).toBe('');
  });

  it.each([
    ['wrong scheme', 'https://cluster.local/ns/a/sa/b'],
    ['uppercase scheme', 'SPIFFE://cluster.local/ns/a/sa/b'],
    ['uppercase trust domain', 'spiffe://Cluster.local/ns/a/sa/b'],
    ['empty trust domain', 'spiffe:///ns/a/sa/b'],
    ['port', 'spiffe://cluster.local:443/ns/a/sa/b'],
    ['userinfo', 'spiffe://admin@cluster.local/ns/a/sa/b'],
    ['query', 'spiffe://cluster.local/ns/a/sa/b?x=1'],
    ['fragment', 'spiffe://cluster.local/ns/a/sa/b#frag'],
    ['empty segment', 'spiffe://cluster.local/ns//sa/b'],
    ['trailing slash', 'spiffe://cluster.local/ns/a/sa/b/'],
    ['dot segment', 'spiffe://cluster.local/ns/./sa/b'],
    ['dot-dot segment', 'spiffe://cluster.local/ns/a/../../ns/kube-system/sa/b'],
    ['percent-encoding', 'spiffe://cluster.local/ns/a%2Fb/sa/c'],
    ['encoded dot-dot', 'spiffe://cluster.local/ns/%2e%2e/sa/c'],
    ['whitespace', 'spiffe://cluster.local/ns/a /sa/b'],
    ['NUL byte', 'spiffe://cluster.local/ns/a\u0000/sa/b'],
    ['unicode lookalike', 'spiffe://cluster.local/ns/shоp/sa/web'],
    ['too long', `spiffe://cluster.local/${'a'.repeat(2100)}`],
  ])('rejects %s', (_name, value) => {
    let caught: unknown;
    try {
      parseSpiffeId(value);
    } catch (error) {
      caught = error;
    }
    expect(isLanyardError(caught, 'ERR_SPIFFE_ID_INVALID')).toBe(true);
  });
});

describe('workloadSpiffeId', () => {
  it('builds the canonical workload ID', () => {
    const id = workloadSpiffeId({ trustDomain: 'prod.example', namespace: 'shop', serviceAccount: 'orders' });
    expect(id.toString()).toBe('spiffe://prod.example/ns/shop/sa/orders');
  });

  it.each([
    ['a namespace with a slash', { namespace: 'a/sa/x', serviceAccount: 'b' }],
    ['an uppercase namespace', { namespace: 'Shop', serviceAccount: 'b' }],
    ['an empty ServiceAccount', { namespace: 'shop', serviceAccount: '' }],
    ['a ServiceAccount with ..', { namespace: 'shop', serviceAccount: '..' }],
  ])('refuses %s', (_name, parts) => {
    expect(() => workloadSpiffeId({ trustDomain: 'cluster.local', ...parts })).toThrow(
      /not a valid Kubernetes/,
    );
  });

  it('does not read an identity from IDs of another shape', () => {
    expect(workloadIdentityOf(parseSpiffeId('spiffe://td/ns/a/sa/b/extra'))).toBeUndefined();
    expect(workloadIdentityOf(parseSpiffeId('spiffe://td/sa/b/ns/a'))).toBeUndefined();
  });
});

describe('parseTrustDomain', () => {
  it('accepts the default and rejects bad names', () => {
    expect(parseTrustDomain('cluster.local')).toBe('cluster.local');
    expect(() => parseTrustDomain('Cluster.Local')).toThrow(/lowercase/);
    expect(() => parseTrustDomain('')).toThrow(/empty/);
  });
});
