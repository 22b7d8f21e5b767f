// The AuthPolicy CRD on the real API server: examples accepted, invalid ones refused with the
// message they document, printer columns and `kubectl explain` readable.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, uniqueName } from '../helpers/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const crdFile = `${root}crds/authpolicy.yaml`;
const examplesDir = `${root}docs/examples/`;
const invalidDir = `${examplesDir}invalid/`;
const namespace = uniqueName('authpolicy-crd');

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort();

/** Reads an invalid example's `# refusedBy:` and `# expect:` header lines. */
function expectation(file: string): { refusedBy: string; expect: string } {
  const text = readFileSync(file, 'utf8');
  const field = (name: string): string => new RegExp(`^# ${name}: (.*)$`, 'm').exec(text)?.[1] ?? '';
  return { refusedBy: field('refusedBy'), expect: field('expect') };
}

const refusedBy = (by: string) =>
  yamlFiles(invalidDir).filter((name) => expectation(`${invalidDir}${name}`).refusedBy === by);
const apiServerRefused = refusedBy('apiserver');
const compilerRefused = refusedBy('compiler');

async function eventually<T>(attempt: () => Promise<T>, tries = 60): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', crdFile]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);
  await kubectl(['create', 'namespace', namespace]);
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
});

describe('the AuthPolicy CRD on a real API server', () => {
  it.each(yamlFiles(examplesDir))('accepts docs/examples/%s', async (name) => {
    const out = await kubectl(['apply', '-n', namespace, '-f', `${examplesDir}${name}`]);
    expect(out).toMatch(/authpolicy\.lanyard\.dev\/\S+ (created|configured|unchanged)/);
  });

  it.each(apiServerRefused)('refuses docs/examples/invalid/%s with its documented message', async (name) => {
    const file = `${invalidDir}${name}`;
    const { expect: message } = expectation(file);
    expect(message).not.toBe('');
    await expect(kubectl(['apply', '-n', namespace, '-f', file])).rejects.toThrow(message);
  });

  // These pass the schema and CEL: the controller's compiler refuses them (Accepted=False).
  it.each(compilerRefused)(
    'stores docs/examples/invalid/%s, which only the compiler refuses',
    async (name) => {
      const out = await kubectl(['apply', '-n', namespace, '-f', `${invalidDir}${name}`]);
      expect(out).toMatch(/created|configured|unchanged/);
    },
  );

  it('classifies every invalid example', () => {
    expect(apiServerRefused.length + compilerRefused.length).toBe(yamlFiles(invalidDir).length);
  });

  it('lists policies with the Action, Workloads, Accepted and Age columns, under the short name', async () => {
    const out = await kubectl(['get', 'ap', '-n', namespace]);
    expect(out.split('\n')[0]).toMatch(/^NAME\s+ACTION\s+WORKLOADS\s+ACCEPTED\s+AGE$/);
    expect(out).toMatch(/^deny-admin\s+DENY\s/m);
    const byCategory = await kubectl(['get', 'lanyard', '-n', namespace, '-o', 'name']);
    expect(byCategory).toContain('authpolicy.lanyard.dev/orders');
  });

  it('fills in defaults: action ALLOW, dryRun false, rolesClaim [roles], forward true', async () => {
    const out = await kubectl(['get', 'ap', 'orders', '-n', namespace, '-o', 'json']);
    const spec = (JSON.parse(out) as { spec: Record<string, unknown> }).spec;
    expect(spec).toMatchObject({ action: 'ALLOW', dryRun: false, rolesClaim: ['roles'] });
    expect(spec.userTokens).toMatchObject([{ forward: true }]);
  });

  it('explains every level of the spec with its description', async () => {
    // kubectl wraps descriptions: compare with whitespace collapsed.
    const explain = async (field: string) => (await kubectl(['explain', field])).replace(/\s+/g, ' ');
    const spec = await eventually(() => explain('authpolicy.spec'));
    expect(spec).toContain('The desired behaviour of the policy.');
    expect(spec).toContain('action <string>');
    expect(spec).toContain('DENY refuses it, whatever any ALLOW policy says');
    const from = await explain('authpolicy.spec.rules.from.principals');
    expect(from).toContain('SPIFFE IDs of callers');
    const paths = await explain('authpolicy.spec.permissions.paths');
    expect(paths).toContain('{**}');
  });
});
