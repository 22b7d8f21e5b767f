// Renders lib/policy/schema.generated.ts: the CRD's OpenAPI schema as data, so that the pure
// policy core can check policies from files the way the API server checks them in a cluster.
import { format, resolveConfig } from 'prettier';
import { rootSchema, type AuthPolicyCrd } from './schema.ts';

export async function renderSchema(crd: AuthPolicyCrd): Promise<string> {
  const text = [
    '// Generated from crds/authpolicy.yaml by `npx tsx crds/generate.ts`. Do not edit by hand.',
    "import type { SchemaNode } from './structural.ts';",
    '',
    `export const AUTHPOLICY_SCHEMA: SchemaNode = ${JSON.stringify(rootSchema(crd))};`,
    '',
  ].join('\n');
  const config = await resolveConfig(new URL('../lib/policy/schema.generated.ts', import.meta.url));
  return format(text, { ...config, parser: 'typescript' });
}
