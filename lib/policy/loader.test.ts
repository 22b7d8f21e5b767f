import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPolicyDocuments } from './loader.ts';

const examples = new URL('../../docs/examples/', import.meta.url);
const invalid = new URL('invalid/', examples);
const yamlIn = (dir: URL) =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort();
const fileOf = (dir: URL, name: string) => ({ name, text: readFileSync(new URL(name, dir), 'utf8') });

describe('loadPolicyDocuments: the documentation examples', () => {
  it.each(yamlIn(examples))('accepts docs/examples/%s without errors or warnings', (name) => {
    const { set, messages } = loadPolicyDocuments([fileOf(examples, name)]);
    expect(messages).toEqual([]);
    expect(set.results.map((result) => result.accepted)).toEqual([true]);
  });

  it.each(yamlIn(invalid))('refuses docs/examples/invalid/%s with its documented message', (name) => {
    const file = fileOf(invalid, name);
    const expected = /^# expect: (.*)$/m.exec(file.text)?.[1];
    expect(expected).toBeTruthy();
    const { set, messages } = loadPolicyDocuments([file]);
    expect(set.results.map((result) => result.accepted)).toEqual([false]);
    expect(messages.join('\n')).toContain(expected);
  });
});

describe('loadPolicyDocuments', () => {
  const doc = (name: string, extra = '') =>
    `apiVersion: lanyard.dev/v1alpha1\nkind: AuthPolicy\nmetadata: {name: ${name}${extra}}\nspec:\n  rules: [{to: [{paths: [/x]}]}]\n`;

  it('reads every document of a multi-document file, defaulting the namespace', () => {
    const text = `${doc('a')}---\n${doc('b', ', namespace: shop')}---\n`;
    const { set, messages } = loadPolicyDocuments([{ name: 'p.yaml', text }], { defaultNamespace: 'dev' });
    expect(messages).toEqual([]);
    expect(set.results.map((r) => `${r.ref.namespace}/${r.ref.name}`)).toEqual(['dev/a', 'shop/b']);
  });

  it('names the file and policy in every message, and keeps the valid policies', () => {
    const bad = doc('bad').replace('paths: [/x]', 'paths: [x]');
    const { set, messages } = loadPolicyDocuments([
      { name: 'dir/p.yaml', text: `${doc('good')}---\n${bad}` },
    ]);
    expect(set.results.map((r) => r.accepted)).toEqual([true, false]);
    expect(messages).toEqual([
      `dir/p.yaml (default/bad): spec.rules[0].to[0].paths[0]: Invalid value: "x": spec.rules[0].to[0].paths[0] in body should match '^/[^?#\\s]*$'`,
    ]);
  });

  it('reports warnings as warnings', () => {
    const text = doc('w').replace('[{to: [{paths: [/x]}]}]', '[{to: [{methods: [GET], notMethods: [GET]}]}]');
    expect(loadPolicyDocuments([{ name: 'w.yaml', text }]).messages).toEqual([
      'w.yaml (default/w): warning: spec.rules[0].to[0]: "GET" is in both methods and notMethods, so it never matches',
    ]);
  });

  it('refuses documents that are not YAML or not AuthPolicies, and skips empty ones', () => {
    const { fileErrors } = loadPolicyDocuments([
      { name: 'broken.yaml', text: 'spec: [unclosed' },
      { name: 'other.yaml', text: 'apiVersion: v1\nkind: ConfigMap\n---\n' },
    ]);
    expect(fileErrors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^broken\.yaml \(document 1\): not valid YAML: /),
      'other.yaml (document 1): is not an AuthPolicy (apiVersion lanyard.dev/v1alpha1, kind AuthPolicy)',
    ]);
  });

  it('bounds file size, file count and document count', () => {
    const big = loadPolicyDocuments([{ name: 'big.yaml', text: doc('a') }], { maxFileBytes: 10 });
    expect(big.fileErrors.map((e) => e.message)).toEqual(['big.yaml: larger than 10 bytes']);
    const many = loadPolicyDocuments(
      [
        { name: 'a.yaml', text: doc('a') },
        { name: 'b.yaml', text: doc('b') },
      ],
      { maxFiles: 1 },
    );
    expect(many.set.results).toHaveLength(1);
    expect(many.fileErrors[0]?.message).toBe('(folder): more than 1 policy files; the rest are ignored');
    const docs = loadPolicyDocuments([{ name: 'a.yaml', text: `${doc('a')}---\n${doc('b')}` }], {
      maxDocuments: 1,
    });
    expect(docs.set.results).toHaveLength(1);
  });

  it('refuses a YAML alias bomb instead of expanding it', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from({ length: 8 }, (_, i) => {
        const prev = i === 0 ? 'a' : `l${i - 1}`;
        return `l${i}: &l${i} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`;
      }),
    ].join('\n');
    const { fileErrors } = loadPolicyDocuments([{ name: 'bomb.yaml', text: bomb }]);
    expect(fileErrors[0]?.message).toMatch(/^bomb\.yaml \(document 1\): /);
  });
});
