import { describe, expect, it } from 'vitest';
import {
  bearerChallenge,
  compileHeaderPolicy,
  forwardHeaders,
  fromRawHeaders,
  invalidTokenChallenge,
  missingTokenChallenge,
  stepUpChallenge,
  stripIdentityHeaders,
  type HeaderList,
} from './headers.ts';

const policy = compileHeaderPolicy({ claimHeaders: ['x-user-email', 'X-Tenant'] });
const names = (headers: HeaderList) => headers.map(([name]) => name);
const PEER = 'spiffe://cluster.local/ns/shop/sa/web';

describe('stripIdentityHeaders', () => {
  it('removes a spoofed x-forwarded-client-cert (the Istio/Envoy XFCC spoof)', () => {
    const { headers, removed } = stripIdentityHeaders(
      [
        ['host', 'orders'],
        [
          'x-forwarded-client-cert',
          'By=spiffe://cluster.local/ns/shop/sa/orders;URI=spiffe://cluster.local/ns/ops/sa/admin',
        ],
        ['X-Forwarded-Client-Cert', 'URI=spiffe://x'],
      ],
      policy,
    );
    expect(headers).toEqual([['host', 'orders']]);
    expect(removed).toEqual(['x-forwarded-client-cert', 'x-forwarded-client-cert']);
  });

  it('removes every x-lanyard-* header in any casing, every duplicate', () => {
    const { headers } = stripIdentityHeaders(
      [
        ['X-LANYARD-USER', 'admin'],
        ['x-lanyard-user', 'admin'],
        ['X-Lanyard-Peer-Id', 'spiffe://cluster.local/ns/ops/sa/admin'],
        ['x-LaNyArD-future-header', '1'],
        ['accept', '*/*'],
      ],
      policy,
    );
    expect(names(headers)).toEqual(['accept']);
  });

  it('removes underscore spellings that app stacks read as the same header', () => {
    const { headers } = stripIdentityHeaders(
      [
        ['x_lanyard_user', 'admin'],
        ['X_Forwarded_Client_Cert', 'URI=spiffe://x'],
        ['x_user_email', 'ceo@example.com'],
      ],
      policy,
    );
    expect(headers).toEqual([]);
  });

  it('removes configured claim headers, case-insensitively', () => {
    const { headers } = stripIdentityHeaders(
      [
        ['X-USER-EMAIL', 'ceo@example.com'],
        ['x-tenant', 'other'],
        ['x-user-emails', 'kept'],
      ],
      policy,
    );
    expect(headers).toEqual([['x-user-emails', 'kept']]);
  });

  it('removes names hidden by whitespace, controls or look-alike characters', () => {
    const { headers, removed } = stripIdentityHeaders(
      [
        ['x-lanyard-user ', 'admin'],
        [' x-lanyard-user', 'admin'],
        ['x-lanyard-user\t', 'admin'],
        ['x-lanyard-user\0', 'admin'],
        ['x-lanyard\u2010user', 'admin'], // Unicode hyphen
        ['x-lanyard-\u212Aey', 'admin'], // Kelvin sign: lowercases to "k"
        ['x-lanyard-us\u0131er', 'admin'], // dotless i
        ['', 'x'],
        ['accept', 'text/html'],
      ],
      policy,
    );
    expect(headers).toEqual([['accept', 'text/html']]);
    expect(removed).toHaveLength(8);
  });

  it('removes headers whose value carries CR, LF or NUL', () => {
    const { headers } = stripIdentityHeaders(
      [
        ['x-note', 'a\r\nx-lanyard-user: admin'],
        ['x-other', 'a\0b'],
        ['x-fine', 'a b'],
      ],
      policy,
    );
    expect(headers).toEqual([['x-fine', 'a b']]);
  });

  it('keeps the order, names and duplicates of ordinary headers', () => {
    const raw = ['Host', 'orders', 'Accept', 'a', 'accept', 'b', 'Authorization', 'Bearer t'];
    expect(stripIdentityHeaders(fromRawHeaders(raw), policy).headers).toEqual([
      ['Host', 'orders'],
      ['Accept', 'a'],
      ['accept', 'b'],
      ['Authorization', 'Bearer t'],
    ]);
  });
});

describe('forwardHeaders', () => {
  it('replaces spoofed identity headers with the verified ones', () => {
    const result = forwardHeaders(
      [
        ['X-LANYARD-USER', 'admin'],
        ['x-lanyard-peer-id', 'spiffe://cluster.local/ns/ops/sa/admin'],
        ['x-user-email', 'ceo@example.com'],
        ['accept', '*/*'],
      ],
      {
        peerId: PEER,
        user: {
          issuer: 'https://login.shop.example',
          subject: 'alice',
          claims: { email: 'alice@example.com', realm: { tenant: 'shop' } },
          claimHeaders: [
            { claim: 'email', header: 'X-User-Email' },
            { claim: ['realm', 'tenant'], header: 'x-tenant' },
          ],
        },
      },
      policy,
    );
    expect(result.headers).toEqual([
      ['accept', '*/*'],
      ['x-lanyard-peer-id', PEER],
      ['x-lanyard-user-issuer', 'https://login.shop.example'],
      ['x-lanyard-user', 'alice'],
      ['x-user-email', 'alice@example.com'],
      ['x-tenant', 'shop'],
    ]);
    expect(result.removed).toEqual(['x-lanyard-user', 'x-lanyard-peer-id', 'x-user-email']);
    expect(result.omitted).toEqual([]);
  });

  it('sets nothing for a request with no verified identity, after stripping', () => {
    const result = forwardHeaders([['x-lanyard-user', 'admin']], {}, policy);
    expect(result.headers).toEqual([]);
  });

  it('copies numbers, booleans and lists; omits objects, missing claims and inherited properties', () => {
    const wide = compileHeaderPolicy({ claimHeaders: ['x-a', 'x-b', 'x-c', 'x-d', 'x-e', 'x-f'] });
    const result = forwardHeaders(
      [],
      {
        user: {
          issuer: 'https://i',
          claims: { n: 3, ok: true, roles: ['viewer', 'manager'], obj: { a: 1 }, mixed: ['a', { b: 1 }] },
          claimHeaders: [
            { claim: 'n', header: 'x-a' },
            { claim: 'ok', header: 'x-b' },
            { claim: 'roles', header: 'x-c' },
            { claim: 'obj', header: 'x-d' },
            { claim: 'absent', header: 'x-e' },
            { claim: ['n', 'constructor'], header: 'x-f' },
            { claim: '__proto__', header: 'x-f' },
            { claim: 'mixed', header: 'x-f' },
          ],
        },
      },
      wide,
    );
    expect(result.headers).toEqual([
      ['x-lanyard-user-issuer', 'https://i'],
      ['x-a', '3'],
      ['x-b', 'true'],
      ['x-c', 'viewer,manager'],
    ]);
    expect(result.omitted).toEqual([
      { header: 'x-d', reason: 'unsupported-type' },
      { header: 'x-e', reason: 'missing' },
      { header: 'x-f', reason: 'missing' },
      { header: 'x-f', reason: 'missing' },
      { header: 'x-f', reason: 'unsupported-type' },
    ]);
  });

  it('never sets a value that could inject a header or be read differently: it is omitted, not altered', () => {
    const result = forwardHeaders(
      [],
      {
        peerId: `${PEER}\r\nx-lanyard-user: admin`,
        user: {
          issuer: 'https://i',
          subject: 'alice\0',
          claims: { email: ' alice@example.com', tenant: 'x'.repeat(1025) },
          claimHeaders: [
            { claim: 'email', header: 'x-user-email' },
            { claim: 'tenant', header: 'x-tenant' },
          ],
        },
      },
      policy,
    );
    expect(result.headers).toEqual([['x-lanyard-user-issuer', 'https://i']]);
    expect(result.omitted).toEqual([
      { header: 'x-lanyard-peer-id', reason: 'unsafe-characters' },
      { header: 'x-lanyard-user', reason: 'unsafe-characters' },
      { header: 'x-user-email', reason: 'unsafe-characters' },
      { header: 'x-tenant', reason: 'too-long' },
    ]);
  });

  it('omits non-ASCII values rather than transcoding them', () => {
    const result = forwardHeaders([], { user: { issuer: 'https://i', subject: 'zoë', claims: {} } }, policy);
    expect(result.omitted).toEqual([{ header: 'x-lanyard-user', reason: 'unsafe-characters' }]);
  });

  it('refuses a mapping to a header the policy does not strip', () => {
    expect(() =>
      forwardHeaders(
        [],
        {
          user: {
            issuer: 'https://i',
            claims: { a: 'b' },
            claimHeaders: [{ claim: 'a', header: 'x-unlisted' }],
          },
        },
        policy,
      ),
    ).toThrow(TypeError);
  });
});

describe('compileHeaderPolicy', () => {
  it('refuses claim headers that are reserved, critical or not field names', () => {
    for (const header of [
      'x-lanyard-user',
      'X_Lanyard_Roles',
      'x-forwarded-client-cert',
      'Authorization',
      'host',
      'content-length',
      'transfer-encoding',
      'cookie',
      'x-user ',
      'x user',
      'x-user\r\n',
      '',
    ]) {
      expect(() => compileHeaderPolicy({ claimHeaders: [header] })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }) as Error,
      );
    }
  });
});

describe('WWW-Authenticate challenges', () => {
  it('RFC 6750: no token, no error code', () => {
    expect(missingTokenChallenge()).toBe('Bearer');
    expect(missingTokenChallenge('orders')).toBe('Bearer realm="orders"');
  });

  it('RFC 6750: invalid_token', () => {
    expect(invalidTokenChallenge('The token has expired.')).toBe(
      'Bearer error="invalid_token", error_description="The token has expired."',
    );
  });

  it('RFC 9470: step-up with acr_values and max_age', () => {
    expect(stepUpChallenge({ acrValues: ['mfa', 'phr'], maxAge: 300, description: 'MFA required' })).toBe(
      'Bearer error="insufficient_user_authentication", error_description="MFA required", acr_values="mfa phr", max_age="300"',
    );
    expect(stepUpChallenge({ acrValues: ['urn:example:loa:3'] })).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A stronger or more recent authentication is required", acr_values="urn:example:loa:3"',
    );
    expect(() => stepUpChallenge({})).toThrow(TypeError);
  });

  it('attacker text cannot close the quotes, add parameters or break the header', () => {
    const hostile = 'x", error="insufficient_scope", scope="admin\\" \r\nSet-Cookie: a=b\0';
    const header = invalidTokenChallenge(hostile, hostile);
    expect(header).not.toMatch(/[\r\n\0\\]/);
    // Exactly the quotes we wrote: realm, error, error_description.
    expect(header.match(/"/g)).toHaveLength(6);
    expect(header).toBe(
      'Bearer realm="x, error=insufficient_scope, scope=admin Set-Cookie: a=b", error="invalid_token", error_description="x, error=insufficient_scope, scope=admin Set-Cookie: a=b"',
    );
  });

  it('bounds free text', () => {
    const header = bearerChallenge({ error: 'invalid_token', errorDescription: 'a'.repeat(10_000) });
    expect(header).toBe(`Bearer error="invalid_token", error_description="${'a'.repeat(256)}"`);
  });

  it('refuses acr values and scopes that would need escaping, and a bad max_age', () => {
    for (const acrValues of [['a b'], ['a"b'], ['a\\b'], [''], [], ['a\r\n']]) {
      expect(() => stepUpChallenge({ acrValues })).toThrow(TypeError);
    }
    expect(() => bearerChallenge({ scope: ['read write'] })).toThrow(TypeError);
    for (const maxAge of [-1, 1.5, Number.NaN, Infinity]) {
      expect(() => stepUpChallenge({ maxAge })).toThrow(TypeError);
    }
  });
});
