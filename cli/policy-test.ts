// `lanyard test <policies> <cases.yaml>`: table-driven policy tests for users' own CI.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { explainDecision } from '../lib/policy/explain.ts';
import { loadPolicyFolder } from '../lib/policy/folder.ts';
import { evaluate, type Claims } from '../lib/policy/index.ts';
import type { CliIo } from './run.ts';
import { buildRequest, parseWorkload, UsageError } from './request-args.ts';

export const testUsage = `Usage: lanyard test <policies-dir> <cases.yaml>

Runs table-driven cases against a folder of AuthPolicies. A cases file:

  cases:
    - name: web reads orders
      to: shop/app=orders                      # namespace/labels of the called workload
      from: spiffe://cluster.local/ns/shop/sa/web
      method: GET
      path: /orders/42
      claims: { sub: alice, roles: [viewer] }  # optional: the user's verified claims
      expect: ALLOW                            # ALLOW or DENY
      rule: web-reads                          # optional: the rule that must decide
      stepUp: false                            # optional: whether MFA step-up is demanded

Exit code: 0 when every case passes, 1 when one fails, 2 on a usage or file error.
`;

interface Case {
  name?: unknown;
  to?: unknown;
  from?: unknown;
  method?: unknown;
  path?: unknown;
  host?: unknown;
  port?: unknown;
  claims?: unknown;
  expect?: unknown;
  rule?: unknown;
  stepUp?: unknown;
}

const MAX_CASES = 10_000;

function optionalString(value: unknown, field: string, label: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new UsageError(`${label}: ${field} must be a string`);
  return String(value);
}

export function runPolicyTest(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(testUsage);
    return Promise.resolve(0);
  }
  const [policiesDir, casesFile, ...extra] = args;
  try {
    if (!policiesDir || !casesFile || extra.length > 0)
      throw new UsageError('expected <policies-dir> <cases.yaml>');
    const loaded = loadPolicyFolder(policiesDir);
    for (const message of loaded.messages) io.err(`warning: ${message}\n`);
    const document = parseYaml(readFileSync(casesFile, 'utf8')) as { cases?: unknown } | null;
    const cases = document?.cases;
    if (!Array.isArray(cases) || cases.length === 0) throw new UsageError(`${casesFile} has no "cases" list`);
    if (cases.length > MAX_CASES) throw new UsageError(`${casesFile} has more than ${MAX_CASES} cases`);

    let passed = 0;
    let failed = 0;
    for (const [i, raw] of (cases as Case[]).entries()) {
      const label = typeof raw?.name === 'string' ? raw.name : `cases[${i}]`;
      const expected = raw?.expect;
      if (expected !== 'ALLOW' && expected !== 'DENY')
        throw new UsageError(`${label}: expect must be ALLOW or DENY`);
      if (typeof raw.to !== 'string') throw new UsageError(`${label}: to is required (<namespace>[/labels])`);
      if (
        raw.claims !== undefined &&
        (typeof raw.claims !== 'object' || raw.claims === null || Array.isArray(raw.claims))
      ) {
        throw new UsageError(`${label}: claims must be a mapping`);
      }
      const request = buildRequest({
        from: optionalString(raw.from, 'from', label),
        method: optionalString(raw.method, 'method', label),
        path: optionalString(raw.path, 'path', label),
        host: optionalString(raw.host, 'host', label),
        port: optionalString(raw.port, 'port', label),
        claims: raw.claims as Claims | undefined,
      });
      const view = loaded.set.index.forWorkload(parseWorkload(raw.to));
      const decision = evaluate(view, request);
      const problems: string[] = [];
      if (decision.decision !== expected) problems.push(`expected ${expected}, got ${decision.decision}`);
      const rule = optionalString(raw.rule, 'rule', label);
      if (rule !== undefined && decision.decidedBy?.rule !== rule) {
        problems.push(`expected rule ${rule}, decided by ${decision.decidedBy?.rule ?? 'no rule'}`);
      }
      if (raw.stepUp !== undefined && typeof raw.stepUp !== 'boolean') {
        throw new UsageError(`${label}: stepUp must be true or false`);
      }
      if (raw.stepUp !== undefined && Boolean(decision.stepUp) !== raw.stepUp) {
        problems.push(`expected stepUp ${raw.stepUp}, got ${Boolean(decision.stepUp)}`);
      }
      if (problems.length === 0) {
        passed += 1;
        io.out(`✓ ${label}\n`);
      } else {
        failed += 1;
        io.out(
          `✗ ${label}: ${problems.join('; ')}\n${explainDecision(decision, view)
            .map((line) => `    ${line}`)
            .join('\n')}\n`,
        );
      }
    }
    io.out(`\n${passed} passed, ${failed} failed\n`);
    return Promise.resolve(failed === 0 ? 0 : 1);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code === 'ENOENT') {
      io.err(`lanyard test: ${(error as Error).message}\n\n${testUsage}`);
      return Promise.resolve(2);
    }
    throw error;
  }
}
