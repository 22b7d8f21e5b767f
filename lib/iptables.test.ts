import { describe, expect, it } from 'vitest';
import { isLanyardError } from './errors.ts';
import {
  interceptRules,
  parseCidr,
  parseInterceptFlags,
  restoreInput,
  type InterceptFlags,
} from './iptables.ts';

const injected: InterceptFlags = {
  'proxy-uid': '1337',
  'inbound-proxy-port': '15006',
  'outbound-proxy-port': '15001',
  'inbound-ports': '8080,9090',
  'exclude-inbound-ports': '15020',
  'exclude-outbound-ports': '',
  'exclude-outbound-cidrs': '',
};

function refused(flags: InterceptFlags): string {
  try {
    parseInterceptFlags(flags);
  } catch (error) {
    expect(isLanyardError(error, 'ERR_CONFIG_INVALID')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('interceptRules', () => {
  it('is exactly this rule set for the flags the injector passes', () => {
    expect(interceptRules(parseInterceptFlags(injected), 'ipv4')).toEqual([
      '-A LANYARD_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
      '-A LANYARD_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
      '-A LANYARD_INBOUND -p tcp --dport 15020 -j RETURN',
      '-A LANYARD_INBOUND -p tcp --dport 8080 -j LANYARD_IN_REDIRECT',
      '-A LANYARD_INBOUND -p tcp --dport 9090 -j LANYARD_IN_REDIRECT',
      '-A LANYARD_OUTPUT -o lo ! -d 127.0.0.0/8 -m owner --uid-owner 1337 -j LANYARD_INBOUND',
      '-A LANYARD_OUTPUT -o lo -j RETURN',
      '-A LANYARD_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A LANYARD_OUTPUT -d 127.0.0.0/8 -j RETURN',
      '-A LANYARD_OUTPUT -p tcp -j LANYARD_REDIRECT',
      '-A PREROUTING -p tcp -j LANYARD_INBOUND',
      '-A OUTPUT -p tcp -j LANYARD_OUTPUT',
    ]);
  });

  it('redirects every inbound port but the exclusions and its own for "*"', () => {
    const rules = interceptRules(
      parseInterceptFlags({ ...injected, 'inbound-ports': '*', 'exclude-inbound-ports': '15020,22' }),
      'ipv4',
    );
    expect(rules.filter((rule) => rule.startsWith('-A LANYARD_INBOUND'))).toEqual([
      '-A LANYARD_INBOUND -p tcp --dport 15020 -j RETURN',
      '-A LANYARD_INBOUND -p tcp --dport 22 -j RETURN',
      '-A LANYARD_INBOUND -p tcp --dport 15006 -j RETURN',
      '-A LANYARD_INBOUND -p tcp -j LANYARD_IN_REDIRECT',
    ]);
  });

  it('lets an excluded inbound port win over the same app port', () => {
    const rules = interceptRules(
      parseInterceptFlags({ ...injected, 'exclude-inbound-ports': '8080' }),
      'ipv4',
    );
    const exempt = rules.indexOf('-A LANYARD_INBOUND -p tcp --dport 8080 -j RETURN');
    const redirect = rules.indexOf('-A LANYARD_INBOUND -p tcp --dport 8080 -j LANYARD_IN_REDIRECT');
    expect(exempt).toBeGreaterThanOrEqual(0);
    expect(exempt).toBeLessThan(redirect);
  });

  it('exempts excluded outbound ports and CIDRs of its own family, before the redirect', () => {
    const options = parseInterceptFlags({
      ...injected,
      'exclude-outbound-ports': '5432,6379',
      'exclude-outbound-cidrs': '10.96.0.0/12, 169.254.169.254/32,fd00::/8',
    });
    const v4 = interceptRules(options, 'ipv4');
    const tail = v4.slice(v4.indexOf('-A LANYARD_OUTPUT -d 127.0.0.0/8 -j RETURN') + 1);
    expect(tail).toEqual([
      '-A LANYARD_OUTPUT -p tcp --dport 5432 -j RETURN',
      '-A LANYARD_OUTPUT -p tcp --dport 6379 -j RETURN',
      '-A LANYARD_OUTPUT -d 10.96.0.0/12 -j RETURN',
      '-A LANYARD_OUTPUT -d 169.254.169.254/32 -j RETURN',
      '-A LANYARD_OUTPUT -p tcp -j LANYARD_REDIRECT',
      '-A PREROUTING -p tcp -j LANYARD_INBOUND',
      '-A OUTPUT -p tcp -j LANYARD_OUTPUT',
    ]);
    const v6 = interceptRules(options, 'ipv6');
    expect(v6).toContain('-A LANYARD_OUTPUT -d fd00::/8 -j RETURN');
    expect(v6).not.toContain('-A LANYARD_OUTPUT -d 10.96.0.0/12 -j RETURN');
    expect(v6).toContain('-A LANYARD_OUTPUT -o lo ! -d ::1/128 -m owner --uid-owner 1337 -j LANYARD_INBOUND');
    expect(v6).toContain('-A LANYARD_OUTPUT -d ::1/128 -j RETURN');
  });

  it('sends the proxy through the inbound rules for its own pod IP, before exempting its UID', () => {
    const rules = interceptRules(parseInterceptFlags(injected), 'ipv4');
    const self = rules.indexOf(
      '-A LANYARD_OUTPUT -o lo ! -d 127.0.0.0/8 -m owner --uid-owner 1337 -j LANYARD_INBOUND',
    );
    expect(self).toBeGreaterThanOrEqual(0);
    expect(self).toBeLessThan(rules.indexOf('-A LANYARD_OUTPUT -m owner --uid-owner 1337 -j RETURN'));
    expect(self).toBeLessThan(rules.indexOf('-A LANYARD_OUTPUT -o lo -j RETURN'));
  });

  it('has no inbound redirect when the pod declares no ports', () => {
    const rules = interceptRules(parseInterceptFlags({ ...injected, 'inbound-ports': '' }), 'ipv4');
    expect(rules.some((rule) => rule.includes('-j LANYARD_IN_REDIRECT'))).toBe(false);
  });
});

describe('restoreInput', () => {
  it('declares the chains and commits one nat transaction', () => {
    const text = restoreInput(parseInterceptFlags(injected), 'ipv4');
    const lines = text.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      '*nat',
      ':LANYARD_INBOUND - [0:0]',
      ':LANYARD_IN_REDIRECT - [0:0]',
      ':LANYARD_OUTPUT - [0:0]',
      ':LANYARD_REDIRECT - [0:0]',
    ]);
    expect(lines.at(-1)).toBe('COMMIT');
    expect(lines.filter((line) => line.startsWith('-D'))).toEqual([]);
  });

  it('deletes the jumps an earlier run left before adding them again', () => {
    const saved = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      '-A PREROUTING -p tcp -j LANYARD_INBOUND',
      '-A PREROUTING -p tcp -j SOMEONE_ELSE',
      '-A OUTPUT -p tcp -j LANYARD_OUTPUT',
      'COMMIT',
    ].join('\n');
    const lines = restoreInput(parseInterceptFlags(injected), 'ipv4', saved).split('\n');
    expect(lines.filter((line) => line.startsWith('-D'))).toEqual([
      '-D PREROUTING -p tcp -j LANYARD_INBOUND',
      '-D OUTPUT -p tcp -j LANYARD_OUTPUT',
    ]);
    expect(lines.indexOf('-D PREROUTING -p tcp -j LANYARD_INBOUND')).toBeLessThan(
      lines.indexOf('-A PREROUTING -p tcp -j LANYARD_INBOUND'),
    );
  });
});

describe('parseInterceptFlags', () => {
  it('requires a proxy UID that is not root', () => {
    expect(refused({ ...injected, 'proxy-uid': undefined })).toMatch(/--proxy-uid is required/);
    expect(refused({ ...injected, 'proxy-uid': '0' })).toMatch(/not a UID/);
    expect(refused({ ...injected, 'proxy-uid': '13x7' })).toMatch(/not a UID/);
    expect(refused({ ...injected, 'proxy-uid': '4294967295' })).toMatch(/not a UID/);
  });

  it('refuses malformed and out-of-range ports in every list', () => {
    for (const flag of ['inbound-ports', 'exclude-inbound-ports', 'exclude-outbound-ports'] as const) {
      for (const bad of ['0', '65536', '80,', 'http', '-1', '8080;rm', '1e3']) {
        expect(refused({ ...injected, [flag]: bad })).toContain(`--${flag}`);
      }
    }
    expect(refused({ ...injected, 'inbound-proxy-port': '99999' })).toMatch(/--inbound-proxy-port/);
    expect(refused({ ...injected, 'outbound-proxy-port': '15006' })).toMatch(/must differ/);
  });

  it('refuses more than 256 entries in a list', () => {
    const many = Array.from({ length: 257 }, (_, i) => String(i + 1)).join(',');
    expect(refused({ ...injected, 'exclude-outbound-ports': many })).toMatch(/at most 256/);
  });

  it('drops duplicate ports and CIDRs', () => {
    const options = parseInterceptFlags({
      ...injected,
      'inbound-ports': '8080,8080',
      'exclude-outbound-cidrs': '10.0.0.0/8,10.0.0.0/8',
    });
    expect(options.inboundPorts).toEqual([8080]);
    expect(options.excludeOutboundCidrs).toEqual(['10.0.0.0/8']);
  });
});

describe('parseCidr', () => {
  it('accepts IPv4 and IPv6 networks', () => {
    expect(parseCidr('--x', '10.96.0.0/12')).toEqual({ cidr: '10.96.0.0/12', family: 'ipv4' });
    expect(parseCidr('--x', '0.0.0.0/0')).toEqual({ cidr: '0.0.0.0/0', family: 'ipv4' });
    expect(parseCidr('--x', 'FD00::/8')).toEqual({ cidr: 'fd00::/8', family: 'ipv6' });
    expect(parseCidr('--x', '2001:db8::1/128').family).toBe('ipv6');
    expect(parseCidr('--x', '::ffff:10.0.0.0/104').family).toBe('ipv6');
  });

  it('refuses what is not a network', () => {
    for (const bad of [
      '10.0.0.0',
      '10.0.0.0/33',
      '10.0.0/8',
      '10.0.0.256/32',
      'fd00::/129',
      'host/8',
      '10.0.0.0/-1',
      '10.0.0.0/08x',
    ]) {
      expect(() => parseCidr('--exclude-outbound-cidrs', bad)).toThrow(/--exclude-outbound-cidrs/);
    }
  });

  it('refuses host bits after the prefix, in both families', () => {
    expect(() => parseCidr('--x', '10.0.0.1/8')).toThrow(/host bits/);
    expect(() => parseCidr('--x', 'fd00::1/64')).toThrow(/host bits/);
    expect(() => parseCidr('--x', '::ffff:10.0.0.1/104')).toThrow(/host bits/);
  });
});
