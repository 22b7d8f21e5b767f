// Renders docs/authpolicy.md, the AuthPolicy reference, from the CRD's descriptions and the
// examples in docs/examples/ (each file's leading comment is its title and explanation).
import { readdirSync, readFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { rootSchema, type AuthPolicyCrd, type SchemaNode } from './schema.ts';

const EXAMPLES_DIR = new URL('../docs/examples/', import.meta.url);

// The engine's rules in prose (lib/policy/engine.ts); the field list below comes from the CRD.
const SEMANTICS = `
1. The path is normalized once, by the same function the sidecar routes with: query and fragment
   dropped, unreserved percent-escapes decoded, dot segments removed, repeated slashes merged.
   Escaped slashes (%2F, %5C), backslashes, path parameters (";"), null bytes and malformed escapes
   are refused with 400 by default. Matching is case-sensitive.
2. A plaintext request to a workload in STRICT mode is refused.
3. DENY rules of the policies that select the workload: the first match refuses the request.
4. ALLOW rules: the first match allows it, and its rate limit applies. A match that lacks the
   rule's MFA gets 401 with an RFC 9470 step-up challenge, unless another rule allows. So a
   rule without MFA that matches some of the same requests switches the MFA off for them: the
   compiler warns (WARN_POLICY_MFA_BYPASS, in the policy's status) when rules of one policy do.
5. If any ALLOW policy selects the workload and none matched, the request is refused; the
   decision names the ALLOW rule that came closest and what differed.
6. Otherwise the mesh default applies (allow, or deny for zero trust).

AUDIT policies and dry-run policies never change the decision: their matches, and what the
dry-run policies would have decided, are logged with the decision. Every decision names the
policy and rule that made it; a rule without a name is called by its index, \`rules[0]\`.
Policies of the workload's namespace come first (by name), then those of the root namespace.
`.trim();

/** A Markdown code span that survives backticks in its content. */
function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** Description text with Markdown's emphasis characters taken literally. */
function prose(text: string): string {
  return text.replace(/([*_])/g, '\\$1');
}

function typeOf(node: SchemaNode): string {
  if (node.enum) return node.enum.join(' | ');
  if (node.type === 'array') return `${typeOf(node.items ?? {})}[]`;
  if (node.type === 'object' && node.additionalProperties)
    return `map of ${typeOf(node.additionalProperties)}`;
  return node.type ?? 'any';
}

function bounds(node: SchemaNode): string[] {
  const notes: string[] = [];
  if (node.default !== undefined) notes.push(`default \`${JSON.stringify(node.default)}\``);
  if (node.minimum !== undefined || node.maximum !== undefined) {
    notes.push(`${node.minimum ?? ''}..${node.maximum ?? ''}`);
  }
  if (node.minItems !== undefined) notes.push(`at least ${node.minItems} items`);
  if (node.maxItems !== undefined) notes.push(`at most ${node.maxItems} items`);
  if (node.maxProperties !== undefined) notes.push(`at most ${node.maxProperties} entries`);
  const item = node.type === 'array' ? (node.items ?? {}) : node;
  if (item.maxLength !== undefined) notes.push(`strings up to ${item.maxLength} characters`);
  if (item.pattern !== undefined) notes.push(`pattern ${code(item.pattern)}`);
  return notes;
}

interface Field {
  path: string;
  node: SchemaNode;
  required: boolean;
}

function collect(node: SchemaNode, path: string, required: boolean, out: Field[]): void {
  if (path !== '') out.push({ path, node, required });
  const object = node.type === 'array' ? node.items : node;
  const base = node.type === 'array' ? `${path}[]` : path;
  const requiredKeys = new Set(object?.required ?? []);
  for (const [key, child] of Object.entries(object?.properties ?? {})) {
    if (['apiVersion', 'kind', 'metadata'].includes(key) && path === '') continue;
    collect(child, base === '' ? key : `${base}.${key}`, requiredKeys.has(key), out);
  }
}

function validations(node: SchemaNode, path: string, out: string[]): void {
  for (const rule of node['x-kubernetes-validations'] ?? [])
    out.push(`- \`${path}\`: ${prose(rule.message)}`);
  const object = node.type === 'array' ? node.items : node;
  const base = node.type === 'array' ? `${path}[]` : path;
  if (node.type === 'array' && node.items) {
    for (const rule of node.items['x-kubernetes-validations'] ?? [])
      out.push(`- \`${base}\`: ${rule.message}`);
  }
  for (const [key, child] of Object.entries(object?.properties ?? {})) {
    validations(child, base === '' ? key : `${base}.${key}`, out);
  }
}

function examples(): string {
  const files = readdirSync(EXAMPLES_DIR)
    .filter((name) => name.endsWith('.yaml'))
    .sort();
  return files
    .map((name) => {
      const text = readFileSync(new URL(name, EXAMPLES_DIR), 'utf8');
      const lines = text.split('\n');
      const comments = lines.filter(
        (line, i) => line.startsWith('#') && lines.slice(0, i).every((l) => l.startsWith('#')),
      );
      const [title = name, ...explanation] = comments.map((line) => line.replace(/^#\s?/, ''));
      const body = lines.slice(comments.length).join('\n').trim();
      return `### ${prose(title)}\n\n${prose(explanation.join(' '))}\n\n[docs/examples/${name}](examples/${name})\n\n\`\`\`yaml\n${body}\n\`\`\`\n`;
    })
    .join('\n');
}

/** The Markdown reference of the AuthPolicy resource, formatted with Prettier. */
export async function renderReference(crd: AuthPolicyCrd): Promise<string> {
  const root = rootSchema(crd);
  const fields: Field[] = [];
  collect(root, '', false, fields);
  const rules: string[] = [];
  validations(root, '', rules);
  const { group, names, versions } = crd.spec;
  const list = fields
    .map(({ path, node, required }) => {
      const notes = [required ? 'required' : '', ...bounds(node)].filter(Boolean).join('; ');
      return `- **\`${path}\`** (${typeOf(node)}): ${prose(node.description ?? '')}${notes ? ` _(${notes})_` : ''}`;
    })
    .join('\n');
  const text = [
    '<!-- Generated from crds/authpolicy.yaml and docs/examples/ by `npx tsx crds/generate.ts`. Do not edit by hand. -->',
    '',
    '# AuthPolicy reference',
    '',
    `\`${group}/${versions.map((v) => v.name).join(', ')}\`, kind \`${names.kind}\`, namespaced; short name \`${names.shortNames.join('`, `')}\`; category \`lanyard\` (\`kubectl get lanyard\`).`,
    '',
    root.description ?? '',
    '',
    '## How requests are evaluated',
    '',
    SEMANTICS,
    '',
    '## Fields',
    '',
    list,
    '',
    '## Validation rules',
    '',
    'The API server refuses a policy that breaks one of these (CEL rules in the CRD). Checks that need the whole policy (unknown permission or role references, bad path templates, duplicate rule names) are made by the Lanyard compiler, which marks the policy `Accepted=False` with a message naming the field.',
    '',
    ...rules,
    '',
    '## Examples',
    '',
    'One example per feature; every one is applied to a real API server by the integration tests.',
    '',
    examples(),
  ].join('\n');
  const config = await resolveConfig(new URL('../docs/authpolicy.md', import.meta.url));
  return format(text, { ...config, parser: 'markdown' });
}
