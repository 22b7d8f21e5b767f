// Generated files are committed; these fail when crds/authpolicy.yaml changed without
// `npx tsx crds/generate.ts`.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderAll } from '../../crds/generate.ts';
import { readCrd, rootSchema, type SchemaNode } from '../../crds/schema.ts';
import { CEL_MIRRORS } from './cel-mirrors.ts';

const committed = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const crd = readCrd();

describe('files generated from crds/authpolicy.yaml', async () => {
  const generated = await renderAll(crd);
  it.each(generated)('%s is current', (path, text) => {
    expect(committed(path)).toBe(text);
  });
});

describe('the CRD', () => {
  const nodes: [string, SchemaNode][] = [];
  const walk = (node: SchemaNode, path: string) => {
    nodes.push([path, node]);
    for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, `${path}.${key}`);
    if (node.items) walk(node.items, `${path}[]`);
  };
  walk(rootSchema(crd), '');

  it('has a description on every field', () => {
    const missing = nodes
      .filter(([path, node]) => !node.description && !path.endsWith('[]') && path !== '.metadata')
      .map(([path]) => path);
    expect(missing).toEqual([]);
  });

  it('bounds every list and string, so that the CEL cost estimate stays within budget', () => {
    const unbounded = nodes
      .filter(([path]) => !path.startsWith('.metadata') && path !== '.apiVersion' && path !== '.kind')
      .filter(
        ([, node]) =>
          (node.type === 'array' && node.maxItems === undefined) ||
          (node.type === 'string' &&
            node.maxLength === undefined &&
            !node.enum &&
            node.format !== 'date-time'),
      )
      .map(([path]) => path);
    expect(unbounded).toEqual([]);
  });

  it('has a TypeScript twin for every CEL rule, used for policies read from files', () => {
    const messages = nodes.flatMap(([, node]) =>
      (node['x-kubernetes-validations'] ?? []).map((rule) => rule.message),
    );
    expect(messages.filter((message) => !CEL_MIRRORS[message])).toEqual([]);
    expect(Object.keys(CEL_MIRRORS).filter((message) => !messages.includes(message))).toEqual([]);
  });
});
