// Every AuthPolicy example in docs/examples/ is executed: its cases file
// (docs/examples/cases/NAME.cases.yaml) must pass under `lanyard test` with the example alone in
// the policy folder, and `lanyard check` must explain its first ALLOW and first DENY case.
// A new example without a cases file fails here.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/run.ts';
import {
  casesDir,
  casesFileOf,
  examplesDir,
  listExamples,
  readCases,
  readExample,
  type ExampleCase,
} from '../helpers/example-cases.ts';

const EXAMPLE = /\.ya?ml$/;
const examples = listExamples();
type Case = ExampleCase;

/**
 * Decisions for which `lanyard check` cannot say what the brief asks of it (name the example's
 * policy; for a deny, also a deciding rule or a "nearest rule"), with the first line it prints
 * today. The test fails when one of these starts to meet the requirement: then remove the entry.
 */
const EXPLAIN_GAPS: Record<string, Partial<Record<Case['expect'], string>>> = {
  // AUDIT never decides: the only deny is the mesh's STRICT mTLS (the audit line names the policy).
  'audit.yaml': { DENY: 'DENY (MTLS_REQUIRED) by no rule' },
  // Not selected: the mesh default, and no policy to name. Selected: refused; the explanation
  // names the policy, but a policy without rules has no rule to name.
  'deny-all.yaml': { ALLOW: 'ALLOW (MESH_DEFAULT) by no rule', DENY: 'DENY (NO_ALLOW_MATCH) by no rule' },
  // Dry-run enforces nothing: the only deny is the mesh's STRICT mTLS (the dry-run line names it).
  'dry-run.yaml': { DENY: 'DENY (MTLS_REQUIRED) by no rule' },
};

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** "namespace/name" of the example's policy, as decisions name it. */
function policyRef(example: string): string {
  const policy = readExample(example);
  return `${policy.metadata.namespace ?? 'default'}/${policy.metadata.name}`;
}

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lanyard-docs-examples-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh folder holding only this example, so that no other example interferes. */
function folderWith(example: string): string {
  const dir = mkdtempSync(join(root, `${example.replace(EXAMPLE, '')}-`));
  copyFileSync(join(examplesDir, example), join(dir, example));
  return dir;
}

/** The `lanyard check` arguments for one case; claims go to a JSON file given as --token. */
function checkArgs(policies: string, c: Case): string[] {
  const args = ['check', '--policies', policies, '--to', c.to];
  if (c.from !== undefined) args.push('--from', c.from);
  if (c.method !== undefined) args.push('--method', c.method);
  if (c.path !== undefined) args.push('--path', c.path);
  if (c.host !== undefined) args.push('--host', c.host);
  if (c.port !== undefined) args.push('--port', String(c.port));
  if (c.claims !== undefined) {
    const file = join(mkdtempSync(join(root, 'claims-')), 'claims.json');
    writeFileSync(file, JSON.stringify(c.claims));
    args.push('--token', file);
  }
  return args;
}

it('finds the examples', () => {
  expect(examples.length).toBeGreaterThan(0);
});

it('has no cases file without its example', () => {
  const orphans = readdirSync(casesDir)
    .filter((name) => name.endsWith('.cases.yaml'))
    .filter((name) => !examples.some((example) => casesFileOf(example) === join(casesDir, name)));
  expect(orphans).toEqual([]);
});

it('lists only existing examples in EXPLAIN_GAPS', () => {
  expect(Object.keys(EXPLAIN_GAPS).filter((name) => !examples.includes(name))).toEqual([]);
});

describe.each(examples)('docs/examples/%s', (example) => {
  it('has a cases file with at least one ALLOW and one DENY case, each named', () => {
    expect(existsSync(casesFileOf(example)), `missing ${casesFileOf(example)}`).toBe(true);
    const cases = readCases(example);
    expect(cases.some((c) => c.expect === 'ALLOW')).toBe(true);
    expect(cases.some((c) => c.expect === 'DENY')).toBe(true);
    for (const c of cases) expect(typeof c.name === 'string' && c.name.trim() !== '').toBe(true);
  });

  it('passes every case under `lanyard test`, with the example alone', async () => {
    const cases = readCases(example);
    const { code, out, err } = await run('test', folderWith(example), casesFileOf(example));
    expect(err).toBe('');
    expect(out).toMatch(/\n\d+ passed, 0 failed\n$/);
    const passed = Number(/(\d+) passed, 0 failed\n$/.exec(out)?.[1]);
    expect(passed).toBeGreaterThanOrEqual(2);
    expect(passed).toBe(cases.length);
    expect(code).toBe(0);
  });

  it.each(['ALLOW', 'DENY'] as const)('explains its first %s case with `lanyard check`', async (expected) => {
    const c = readCases(example).find((candidate) => candidate.expect === expected);
    expect(c, `no ${expected} case`).toBeDefined();
    const { code, out, err } = await run(...checkArgs(folderWith(example), c!));
    expect(err).toBe('');
    expect(code).toBe(expected === 'ALLOW' ? 0 : 1);
    const firstLine = out.split('\n')[0]!;
    expect(firstLine.startsWith(`${expected} (`)).toBe(true);

    const ref = escape(policyRef(example));
    if (c!.rule !== undefined) {
      expect(firstLine).toMatch(new RegExp(`^${expected} \\(\\w+\\) by ${ref} rule ${escape(c!.rule)}$`));
    }
    if (c!.stepUp) {
      expect(firstLine.startsWith('DENY (MFA_REQUIRED)')).toBe(true);
      expect(out).toMatch(/^ {2}needs multi-factor authentication: /m);
    }

    const namesPolicy = new RegExp(ref).test(out);
    const namesRule = new RegExp(
      `^${expected} \\(\\w+\\) by ${ref} rule \\S+$|^  nearest rule: ${ref} rule \\S+, which differs in:$`,
      'm',
    ).test(out);
    const explained = namesPolicy && (expected === 'ALLOW' || namesRule);
    const gap = EXPLAIN_GAPS[example]?.[expected];
    if (gap === undefined) {
      expect(
        explained,
        `the explanation should name ${policyRef(example)}${expected === 'DENY' ? ' and a rule' : ''}:\n${out}`,
      ).toBe(true);
    } else {
      expect(firstLine).toBe(gap);
      expect(
        explained,
        `lanyard check now explains this: remove EXPLAIN_GAPS['${example}'].${expected}`,
      ).toBe(false);
    }
  });
});

describe('what the example comments promise beyond the cases', () => {
  it('mesh-wide-strict.yaml reaches every namespace once its namespace is the root namespace', async () => {
    const dir = folderWith('mesh-wide-strict.yaml');
    const { code, out } = await run(
      'check',
      '--policies',
      dir,
      '--root-namespace',
      'default',
      '--to',
      'shop/app=web',
      '--from',
      'spiffe://cluster.local/ns/shop/sa/web',
      '--path',
      '/debug/pprof/heap',
    );
    expect(code).toBe(1);
    expect(out).toMatch(/^DENY \(DENY_RULE\) by default\/mesh-baseline rule no-debug$/m);
  });

  it('dry-run.yaml logs what it would decide without enforcing it', async () => {
    const dir = folderWith('dry-run.yaml');
    const { code, out } = await run(
      'check',
      '--policies',
      dir,
      '--to',
      'default/app=orders',
      '--from',
      'spiffe://cluster.local/ns/ops/sa/tool',
    );
    expect(code).toBe(0);
    expect(out).toMatch(/^ALLOW \(MESH_DEFAULT\) by no rule$/m);
    expect(out).toMatch(/^ {2}dry-run: default\/orders-lockdown-trial rule only-web \(DENY\) matched$/m);
    expect(out).toMatch(/^ {2}dry-run policies would decide DENY \(DENY_RULE\)$/m);
  });
});
