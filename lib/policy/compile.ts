// Checks one AuthPolicy (schema, CEL twins, semantics) and compiles it, or says why not.
import type { Diagnostic, PolicyRef } from './model.ts';
import { compileRules, type CompiledRule } from './rules.ts';
import { AUTHPOLICY_SCHEMA } from './schema.generated.ts';
import { checkSemantics } from './semantic.ts';
import { applyDefaults, checkSchema, type SchemaNode } from './structural.ts';
import type { AuthPolicySpec } from './types.generated.ts';

export interface CompiledPolicy {
  readonly ref: PolicyRef;
  /** namespace/name */
  readonly key: string;
  /** The spec with the schema's defaults applied: what the controller streams to sidecars. */
  readonly spec: AuthPolicySpec;
  readonly action: 'ALLOW' | 'DENY' | 'AUDIT';
  readonly dryRun: boolean;
  readonly rules: readonly CompiledRule[];
}

export interface PolicyResult {
  readonly ref: PolicyRef;
  /** Whether the policy is valid; only accepted policies reach the index. */
  readonly accepted: boolean;
  readonly errors: readonly Diagnostic[];
  readonly warnings: readonly Diagnostic[];
  readonly policy?: CompiledPolicy;
}

const SPEC_SCHEMA: SchemaNode = AUTHPOLICY_SCHEMA.properties!.spec!;

function metadataOf(input: unknown): { ref: PolicyRef; errors: Diagnostic[] } {
  const metadata = (input as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const errors: Diagnostic[] = [];
  const read = (field: 'name' | 'namespace'): string => {
    const value = metadata?.[field];
    if (typeof value === 'string' && value !== '') return value;
    errors.push({
      code: 'ERR_POLICY_SCHEMA',
      path: `metadata.${field}`,
      message: `metadata.${field}: Required value`,
    });
    return '';
  };
  return { ref: { namespace: read('namespace'), name: read('name') }, errors };
}

/** Checks and compiles one policy object as read from the API server or a file. */
export function compilePolicy(input: unknown): PolicyResult {
  const { ref, errors: metadataErrors } = metadataOf(input);
  const rawSpec = (input as { spec?: unknown } | null)?.spec;
  if (rawSpec === undefined) {
    const errors = [
      ...metadataErrors,
      { code: 'ERR_POLICY_SCHEMA' as const, path: 'spec', message: 'spec: Required value' },
    ];
    return { ref, accepted: false, errors, warnings: [] };
  }
  const spec = applyDefaults(SPEC_SCHEMA, rawSpec);
  const schemaErrors = [...metadataErrors, ...checkSchema(SPEC_SCHEMA, spec, 'spec')];
  if (schemaErrors.length > 0) return { ref, accepted: false, errors: schemaErrors, warnings: [] };
  const checked = spec as AuthPolicySpec;
  const { errors, warnings } = checkSemantics(checked);
  if (errors.length > 0) return { ref, accepted: false, errors, warnings };
  const key = `${ref.namespace}/${ref.name}`;
  const policy: CompiledPolicy = {
    ref,
    key,
    spec: checked,
    action: checked.action ?? 'ALLOW',
    dryRun: checked.dryRun ?? false,
    rules: compileRules(checked, key),
  };
  return { ref, accepted: true, errors: [], warnings, policy };
}
