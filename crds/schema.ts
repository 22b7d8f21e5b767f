// Reads the AuthPolicy CRD, the single source of truth for the generated types and reference.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { SchemaNode } from '../lib/policy/structural.ts';

export type { SchemaNode };

export interface AuthPolicyCrd {
  spec: {
    group: string;
    names: { kind: string; plural: string; shortNames: string[] };
    versions: { name: string; schema: { openAPIV3Schema: SchemaNode } }[];
  };
}

export const CRD_PATH = new URL('./authpolicy.yaml', import.meta.url);

export function readCrd(text: string = readFileSync(CRD_PATH, 'utf8')): AuthPolicyCrd {
  return parse(text) as AuthPolicyCrd;
}

export function rootSchema(crd: AuthPolicyCrd): SchemaNode {
  const version = crd.spec.versions[0];
  if (!version) throw new Error('the CRD has no version');
  return version.schema.openAPIV3Schema;
}
