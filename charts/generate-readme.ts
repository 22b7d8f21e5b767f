// Renders the values table of a chart's README.md from the `# --` comments in its values.yaml,
// between the README's `<!-- values:start -->` and `<!-- values:end -->` markers.
//   npx tsx charts/generate-readme.ts          rewrite charts/lanyard/README.md
//   npx tsx charts/generate-readme.ts --check  exit 1 if it is stale
// A `# --` comment documents the key below it; following `#` lines continue it. Every leaf value
// must be documented, by its own comment or by one on a parent key.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { parse } from 'yaml';

const START = '<!-- values:start -->';
const END = '<!-- values:end -->';

export interface ValueDoc {
  key: string;
  type: string;
  default: unknown;
  description: string;
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'object') return 'object';
  return typeof value;
}

function lookup(values: unknown, path: readonly string[]): unknown {
  let node = values;
  for (const segment of path) node = (node as Record<string, unknown>)[segment];
  return node;
}

/** Lists the documented values of a values.yaml, in file order. */
export function documentedValues(valuesYaml: string): ValueDoc[] {
  const values: unknown = parse(valuesYaml);
  const docs: ValueDoc[] = [];
  const documented = new Set<string>();
  const stack: { indent: number; key: string }[] = [];
  let pending: string[] | undefined;
  for (const line of valuesYaml.split('\n')) {
    const comment = /^\s*# ?(.*)$/.exec(line);
    if (comment) {
      const text = comment[1]!;
      if (text.startsWith('-- ')) pending = [text.slice(3)];
      else if (pending) pending.push(text);
      continue;
    }
    const entry = /^(\s*)([A-Za-z0-9_]+):/.exec(line);
    if (!entry) {
      if (line.trim() === '') pending = undefined;
      continue;
    }
    const indent = entry[1]!.length;
    while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    stack.push({ indent, key: entry[2]! });
    const path = stack.map((s) => s.key);
    if (pending) {
      const value = lookup(values, path);
      docs.push({ key: path.join('.'), type: typeOf(value), default: value, description: pending.join(' ') });
      documented.add(path.join('.'));
      pending = undefined;
    }
  }
  const undocumented = leafPaths(values).filter(
    (path) => !path.some((_, i) => documented.has(path.slice(0, i + 1).join('.'))),
  );
  if (undocumented.length > 0) {
    throw new Error(
      `values.yaml: no "# --" comment documents ${undocumented.map((p) => p.join('.')).join(', ')}`,
    );
  }
  return docs;
}

function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    Object.keys(value).length === 0
  ) {
    return [prefix];
  }
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** The Markdown table of the documented values. */
export function renderValuesTable(valuesYaml: string): string {
  const rows = documentedValues(valuesYaml).map(
    (doc) =>
      `| \`${doc.key}\` | ${doc.type} | \`${cell(JSON.stringify(doc.default))}\` | ${cell(doc.description)} |`,
  );
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/**
 * The README with its values table replaced by the one the values.yaml gives, formatted by
 * Prettier as `prettier --check` expects it.
 */
export async function renderReadme(readme: string, valuesYaml: string, path: string): Promise<string> {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md: markers ${START} and ${END} not found`);
  const text = `${readme.slice(0, start + START.length)}\n\n${renderValuesTable(valuesYaml)}\n\n${readme.slice(end)}`;
  return format(text, { ...(await resolveConfig(path)), filepath: path });
}

export const chartDir = fileURLToPath(new URL('./lanyard/', import.meta.url));

/** The chart's README as it is, and as the generator would write it. */
export async function chartReadme(): Promise<{ current: string; expected: string }> {
  const path = `${chartDir}README.md`;
  const current = readFileSync(path, 'utf8');
  const expected = await renderReadme(current, readFileSync(`${chartDir}values.yaml`, 'utf8'), path);
  return { current, expected };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { current, expected } = await chartReadme();
  if (process.argv.includes('--check')) {
    if (current !== expected) {
      console.error('charts/lanyard/README.md is stale: run npx tsx charts/generate-readme.ts');
      process.exit(1);
    }
  } else {
    writeFileSync(`${chartDir}README.md`, expected);
  }
}
