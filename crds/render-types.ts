// Renders lib/policy/types.generated.ts from the CRD schema.
import { format, resolveConfig } from 'prettier';
import { rootSchema, type AuthPolicyCrd, type SchemaNode } from './schema.ts';

// Every object in the schema gets a named interface; a new object without a name here fails.
const TYPE_NAMES: Record<string, string> = {
  '': 'AuthPolicy',
  spec: 'AuthPolicySpec',
  'spec.selector': 'LabelSelector',
  'spec.selector.matchExpressions[]': 'LabelSelectorRequirement',
  'spec.userTokens[]': 'UserTokenIssuer',
  'spec.userTokens[].from[]': 'TokenLocation',
  'spec.userTokens[].claimsToHeaders[]': 'ClaimToHeader',
  'spec.permissions[]': 'Permission',
  'spec.roles[]': 'Role',
  'spec.rules[]': 'Rule',
  'spec.rules[].from[]': 'Source',
  'spec.rules[].to[]': 'Operation',
  'spec.rules[].when[]': 'Condition',
  'spec.rules[].requireMfa': 'MfaRequirement',
  'spec.rules[].rateLimit': 'RateLimit',
  status: 'AuthPolicyStatus',
  'status.conditions[]': 'StatusCondition',
};

function comment(text: string | undefined, indent = ''): string {
  if (!text) return '';
  return `${indent}/** ${text.replace(/\*\//g, '*\\/')} */\n`;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function renderType(node: SchemaNode, path: string, out: Map<string, string>): string {
  if (node.enum) return node.enum.map((value) => JSON.stringify(value)).join(' | ');
  switch (node.type) {
    case 'string':
      return 'string';
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return `readonly ${wrap(renderType(node.items ?? {}, `${path}[]`, out))}[]`;
    case 'object':
      if (node.additionalProperties) {
        return `Readonly<Record<string, ${renderType(node.additionalProperties, `${path}{}`, out)}>>`;
      }
      if (!node.properties) return 'Readonly<Record<string, unknown>>';
      return renderInterface(node, path, out);
    default:
      throw new Error(`schema at ${path || '<root>'} has no type`);
  }
}

function wrap(type: string): string {
  return type.includes('|') ? `(${type})` : type;
}

function renderInterface(node: SchemaNode, path: string, out: Map<string, string>): string {
  const name = TYPE_NAMES[path];
  if (!name) throw new Error(`no TypeScript name for the object at ${path}: add it to TYPE_NAMES`);
  const required = new Set(node.required ?? []);
  let body = '';
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const defaults = child.default === undefined ? '' : ` Default: ${JSON.stringify(child.default)}.`;
    body += comment(child.description && `${child.description}${defaults}`, '  ');
    body += `  readonly ${key}${required.has(key) ? '' : '?'}: ${renderType(child, join(path, key), out)};\n`;
  }
  out.set(name, `${comment(node.description)}export interface ${name} {\n${body}}\n`);
  return name;
}

/** The TypeScript declarations of every object in the CRD's schema, formatted with Prettier. */
export async function renderTypes(crd: AuthPolicyCrd): Promise<string> {
  const interfaces = new Map<string, string>();
  renderInterface(rootSchema(crd), '', interfaces);
  const header =
    '// Generated from crds/authpolicy.yaml by `npx tsx crds/generate.ts`. Do not edit by hand.\n\n';
  const text = header + [...interfaces.values()].reverse().join('\n');
  const config = await resolveConfig(new URL('../lib/policy/types.generated.ts', import.meta.url));
  return format(text, { ...config, parser: 'typescript' });
}
