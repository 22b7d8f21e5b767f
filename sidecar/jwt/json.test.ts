import { describe, expect, it } from 'vitest';
import { parseStrictJsonObject } from './json.ts';

const limits = { maxMembers: 4, maxDepth: 3 };
const reason = (text: string) => {
  const result = parseStrictJsonObject(text, limits);
  return result.ok ? 'ok' : result.reason;
};

describe('parseStrictJsonObject', () => {
  it('parses an object and freezes it deeply', () => {
    const result = parseStrictJsonObject('{"a":{"b":[1,{"c":2}]}}', { maxMembers: 4, maxDepth: 4 });
    expect(result).toEqual({ ok: true, value: { a: { b: [1, { c: 2 }] } } });
    expect(result.ok && Object.isFrozen((result.value.a as { b: unknown[] }).b[1])).toBe(true);
  });

  it('refuses duplicate names, also when spelled with escapes or nested', () => {
    expect(reason('{"a":1,"a":2}')).toBe('duplicate member name');
    expect(reason('{"a":1,"\\u0061":2}')).toBe('duplicate member name');
    expect(reason('{"x":{"a":1, "a" :2}}')).toBe('duplicate member name');
    expect(reason('{"a":{"a":1},"b":[{"a":1},{"a":2}]}')).toBe('ok');
    expect(reason('{"a":"\\"a\\":","b":"a"}')).toBe('ok');
  });

  it('refuses non-objects, bad JSON, too many members and deep nesting', () => {
    expect(reason('[]')).toBe('not a JSON object');
    expect(reason('null')).toBe('not a JSON object');
    expect(reason('{"a":1,}')).toBe('not JSON');
    expect(reason('{"a":1,"b":2,"c":3,"d":4,"e":5}')).toBe('too many members');
    expect(reason('{"a":[[1]]}')).toBe('ok');
    expect(reason('{"a":[[[1]]]}')).toBe('nested too deeply');
  });

  it('keeps a __proto__ member as plain data', () => {
    const result = parseStrictJsonObject('{"__proto__":{"admin":true}}', limits);
    expect(result.ok && (result.value as { admin?: boolean }).admin).toBeUndefined();
  });
});
