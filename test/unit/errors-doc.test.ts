import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CA_ERRORS } from '../../ca/errors.ts';
import { DASHBOARD_ERRORS } from '../../controller/dashboard/errors.ts';
import { INJECT_ERRORS } from '../../controller/inject/errors.ts';
import { MONITOR_ERRORS } from '../../controller/monitor/errors.ts';
import { DEV_ERRORS } from '../../dev/errors.ts';
import { IDP_ERRORS } from '../../idp/errors.ts';
import { CORE_ERRORS } from '../../lib/errors.ts';
import { PATH_ERRORS } from '../../lib/path-errors.ts';
import { POLICY_ERRORS, POLICY_WARNINGS } from '../../lib/policy/errors.ts';
import { SIDECAR_ERRORS } from '../../sidecar/errors.ts';
import { HTTP1_ERRORS } from '../../sidecar/http1/errors.ts';

const registries: Record<string, Readonly<Record<string, string>>> = {
  core: CORE_ERRORS,
  path: PATH_ERRORS,
  policy: POLICY_ERRORS,
  policyWarnings: POLICY_WARNINGS,
  ca: CA_ERRORS,
  sidecar: SIDECAR_ERRORS,
  http1: HTTP1_ERRORS,
  inject: INJECT_ERRORS,
  monitor: MONITOR_ERRORS,
  dashboard: DASHBOARD_ERRORS,
  idp: IDP_ERRORS,
  dev: DEV_ERRORS,
};

function documentedCodes(): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|\s*(.+?)\s*\|$/gm)];
  return new Map(rows.map(([, code, meaning]) => [code!, meaning!]));
}

describe('docs/errors.md', () => {
  const documented = documentedCodes();
  const declared = Object.values(registries).flatMap((registry) => Object.entries(registry));

  it.each(declared)('documents %s with its meaning', (code, meaning) => {
    expect(documented.get(code)).toBe(meaning);
  });

  it('documents no code that the registries do not declare', () => {
    const codes = new Set(declared.map(([code]) => code));
    expect([...documented.keys()].filter((code) => !codes.has(code))).toEqual([]);
  });

  it('declares each code in one registry only', () => {
    const codes = declared.map(([code]) => code);
    expect(codes.length).toBe(new Set(codes).size);
  });
});
