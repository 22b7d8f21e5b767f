// Reading verified token claims: nested paths, arrays, and space-delimited strings.
import type { Claims } from './model.ts';

/** The value at a claim path ([realm_access, roles]), or undefined. Own properties only. */
export function claimAt(claims: Claims | undefined, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    if (!Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A claim's values as strings: an array's scalar items, or the scalar itself. */
export function claimValues(value: unknown): string[] {
  if (!Array.isArray(value)) return isScalar(value) ? [String(value)] : [];
  const out: string[] = [];
  for (const item of value as unknown[]) if (isScalar(item)) out.push(String(item));
  return out;
}

function isScalar(value: unknown): value is string | number | boolean {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean';
}

/** Like claimValues, but a string is split on spaces (OAuth scope strings, some roles claims). */
export function claimWords(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((word) => word !== '');
  return claimValues(value);
}

/** The scopes a token grants: `scope` (space-delimited string) or `scp` (array or string). */
export function scopesOf(claims: Claims | undefined): string[] {
  return [...claimWords(claimAt(claims, ['scope'])), ...claimWords(claimAt(claims, ['scp']))];
}
