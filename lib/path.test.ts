import { describe, expect, it } from 'vitest';
import { isLanyardError } from './errors.ts';
import { createPathNormalizer, normalizePath } from './path.ts';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isLanyardError(error, 'ERR_PATH_INVALID')) return error.message;
    throw error;
  }
  throw new Error('expected the path to be refused');
}

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/orders', '/orders'],
    ['/orders/', '/orders/'],
    ['/a/b/c', '/a/b/c'],
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/../../a', '/a'],
    ['/..', '/'],
    ['/a//b///c', '/a/b/c'],
    ['//', '/'],
    ['/a/b?x=1', '/a/b'],
    ['/a/b#frag', '/a/b'],
    ['/a/b?x=/../admin#y', '/a/b'],
    ['/%7Euser/%41bc', '/~user/Abc'],
    ['/a%3ab', '/a%3Ab'],
    ['/caf%C3%A9', '/caf%C3%A9'],
    ['/a...b/...', '/a...b/...'],
  ])('normalizes %s to %s', (raw, expected) => {
    expect(normalizePath(raw)).toBe(expected);
  });

  it.each([
    ['', 'must start with "/"'],
    ['orders', 'must start with "/"'],
    ['*', 'must start with "/"'],
    ['http://evil/admin', 'must start with "/"'],
    ['/a%2', 'malformed percent-encoding'],
    ['/a%zz', 'malformed percent-encoding'],
    ['/a%', 'malformed percent-encoding'],
    ['/a b', 'character not allowed'],
    ['/a\tb', 'character not allowed'],
    ['/caf\u00e9', 'character not allowed'],
    ['/a<b>', 'character not allowed'],
  ])('refuses %j (%s)', (raw, reason) => {
    expect(refusal(() => normalizePath(raw))).toContain(reason);
  });

  it('refuses a raw null byte and an encoded one', () => {
    expect(refusal(() => normalizePath('/admin\0.html'))).toContain('null byte');
    expect(refusal(() => normalizePath('/admin%00.html'))).toContain('null byte');
  });

  it('refuses a path longer than the bound, and the bound is configurable', () => {
    expect(refusal(() => normalizePath(`/${'a'.repeat(8192)}`))).toContain('longer than 8192');
    expect(createPathNormalizer({ maxLength: 16 })('/abc')).toBe('/abc');
    expect(refusal(() => createPathNormalizer({ maxLength: 16 })(`/${'a'.repeat(16)}`))).toContain(
      'longer than 16',
    );
  });

  it('never decodes twice: %252e stays an escape, not a dot', () => {
    expect(normalizePath('/a/%252e%252e/admin')).toBe('/a/%252e%252e/admin');
  });

  it('checks options when given', () => {
    expect(() => createPathNormalizer({ escapedSlashes: 'maybe' as 'reject' })).toThrow(TypeError);
    expect(() => createPathNormalizer({ maxLength: 0 })).toThrow(TypeError);
    expect(() => createPathNormalizer({ caseSensitive: 'no' as unknown as boolean })).toThrow(TypeError);
  });
});

// Each of these pins a path-normalization bypass that hit Envoy or Istio.
describe('path normalization CVEs', () => {
  it('CVE-2019-9901: ".." segments cannot climb past a prefix that a policy checks', () => {
    expect(normalizePath('/public/../admin')).toBe('/admin');
    expect(normalizePath('/public/../../admin/users')).toBe('/admin/users');
    expect(normalizePath('/./admin')).toBe('/admin');
  });

  it('CVE-2019-9901 (encoded): %2e%2e is a dot segment after decoding', () => {
    expect(normalizePath('/public/%2e%2e/admin')).toBe('/admin');
    expect(normalizePath('/public/%2E%2E/admin')).toBe('/admin');
    expect(normalizePath('/public/.%2e/admin')).toBe('/admin');
    expect(normalizePath('/%2e/admin')).toBe('/admin');
  });

  it('CVE-2021-31920: escaped slashes %2F and %5C are refused by default', () => {
    expect(refusal(() => normalizePath('/admin%2Fusers'))).toContain('percent-encoded slash');
    expect(refusal(() => normalizePath('/public/..%2Fadmin'))).toContain('percent-encoded slash');
    expect(refusal(() => normalizePath('/public/..%2fadmin'))).toContain('percent-encoded slash');
    expect(refusal(() => normalizePath('/public/..%5Cadmin'))).toContain('percent-encoded slash');
  });

  it('CVE-2021-31920: with escapedSlashes "decode", %2F and %5C become "/" before dot removal', () => {
    const decode = createPathNormalizer({ escapedSlashes: 'decode' });
    expect(decode('/public/..%2Fadmin')).toBe('/admin');
    expect(decode('/public/..%5cadmin')).toBe('/admin');
    expect(decode('/admin%2F%2Fusers')).toBe('/admin/users');
  });

  it('CVE-2019-18801-style oddities: backslashes are refused or, if configured, are slashes', () => {
    expect(refusal(() => normalizePath('/public\\..\\admin'))).toContain('backslash');
    const slash = createPathNormalizer({ backslashes: 'slash' });
    expect(slash('/public\\..\\admin')).toBe('/admin');
    expect(slash('/\\admin')).toBe('/admin');
    expect(refusal(() => slash('\\admin'))).toContain('must start with "/"');
  });

  it('CVE-2019-18801-style oddities: an absolute-form or empty target is refused, not guessed at', () => {
    expect(refusal(() => normalizePath('admin'))).toContain('must start with "/"');
    expect(refusal(() => normalizePath('?/admin'))).toContain('must start with "/"');
  });

  it('repeated slashes: //admin is /admin (Envoy merge_slashes)', () => {
    expect(normalizePath('//admin')).toBe('/admin');
    expect(normalizePath('/public//..//admin')).toBe('/admin');
  });

  it('path parameters: /admin;x is refused by default, or stripped or kept as configured', () => {
    expect(refusal(() => normalizePath('/admin;x'))).toContain('path parameters');
    expect(createPathNormalizer({ semicolons: 'strip' })('/admin;jsessionid=1/users;v=2')).toBe(
      '/admin/users',
    );
    expect(createPathNormalizer({ semicolons: 'strip' })('/public/..;x/admin')).toBe('/admin');
    expect(createPathNormalizer({ semicolons: 'keep' })('/admin;x')).toBe('/admin;x');
  });

  it('case rules: /ADMIN is not /admin by default; caseSensitive false lowercases', () => {
    expect(normalizePath('/ADMIN')).toBe('/ADMIN');
    const folded = createPathNormalizer({ caseSensitive: false });
    expect(folded('/ADMIN/Users')).toBe('/admin/users');
    expect(folded('/A%3aB')).toBe('/a%3Ab');
  });

  it('query and fragment cannot smuggle dot segments or slashes', () => {
    expect(normalizePath('/public?/../admin')).toBe('/public');
    expect(normalizePath('/public#/../admin')).toBe('/public');
  });
});
