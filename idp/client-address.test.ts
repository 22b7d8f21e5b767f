import { describe, expect, it } from 'vitest';
import { isLanyardError } from '../lib/errors.ts';
import { clientAddress, parseTrustedProxies } from './client-address.ts';

const proxies = parseTrustedProxies(['10.0.0.0/8', '2001:db8:1::/48', '192.168.5.5']);

describe('clientAddress', () => {
  it('uses the socket address when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress('198.51.100.7', '81.2.69.160', undefined)).toBe('198.51.100.7');
    expect(clientAddress('::ffff:198.51.100.7', '81.2.69.160', undefined)).toBe('198.51.100.7');
  });

  it('ignores X-Forwarded-For from an untrusted peer (a spoofing client)', () => {
    expect(clientAddress('203.0.113.9', '81.2.69.160', proxies)).toBe('203.0.113.9');
  });

  it('reads right to left past trusted proxies; a forged left part does not count', () => {
    // The client forged "1.1.1.1"; the edge proxy appended the real peer, then an inner proxy.
    expect(clientAddress('10.0.0.2', '1.1.1.1, 81.2.69.160, 10.0.0.1', proxies)).toBe('81.2.69.160');
    expect(clientAddress('10.0.0.2', ['1.1.1.1', '81.2.69.160'], proxies)).toBe('81.2.69.160');
    expect(clientAddress('192.168.5.5', '[2001:db8:2::1]:443', proxies)).toBe('2001:db8:2::1');
    expect(clientAddress('10.0.0.2', '81.2.69.160:5555', proxies)).toBe('81.2.69.160');
  });

  it('stops at the last vouched address on a malformed hop, and when every hop is trusted', () => {
    expect(clientAddress('10.0.0.2', 'garbage, 10.0.0.1', proxies)).toBe('10.0.0.1');
    expect(clientAddress('10.0.0.2', '10.0.0.3', proxies)).toBe('10.0.0.3');
    expect(clientAddress('10.0.0.2', 'x'.repeat(5000), proxies)).toBe('10.0.0.2');
  });

  it('refuses a malformed trusted-proxy CIDR', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::/129', '10.0.0.0/x']) {
      let error: unknown;
      try {
        parseTrustedProxies([bad]);
      } catch (caught) {
        error = caught;
      }
      expect(isLanyardError(error, 'ERR_CONFIG_INVALID'), bad).toBe(true);
    }
  });
});
