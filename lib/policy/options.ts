import type { CompileOptions } from './model.ts';

export type ResolvedOptions = Readonly<Required<CompileOptions>>;

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Checks compile options once, fills in the documented defaults and freezes them. */
export function resolveOptions(options: CompileOptions = {}): ResolvedOptions {
  const resolved = {
    rootNamespace: 'lanyard-system',
    trustDomain: 'cluster.local',
    defaultAction: 'ALLOW' as const,
    defaultMtls: 'STRICT' as const,
    ...options,
  };
  if (!NAME.test(resolved.rootNamespace)) throw new TypeError('rootNamespace must be a namespace name');
  if (!/^[a-z0-9._-]+$/.test(resolved.trustDomain)) throw new TypeError('trustDomain must be a trust domain');
  if (!['ALLOW', 'DENY'].includes(resolved.defaultAction))
    throw new TypeError('defaultAction must be ALLOW or DENY');
  if (!['STRICT', 'PERMISSIVE'].includes(resolved.defaultMtls)) {
    throw new TypeError('defaultMtls must be STRICT or PERMISSIVE');
  }
  return Object.freeze(resolved);
}
