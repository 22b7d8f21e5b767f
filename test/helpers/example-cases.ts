// The AuthPolicy examples of docs/examples/ and their cases files (cases/NAME.cases.yaml): what
// each example must allow and deny, for the tests that replay them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const examplesDir = fileURLToPath(new URL('../../docs/examples/', import.meta.url));
export const casesDir = join(examplesDir, 'cases');
const EXAMPLE = /\.ya?ml$/;

/** The valid examples (docs/examples/*.yaml; the invalid ones live in a subfolder). */
export function listExamples(): string[] {
  return readdirSync(examplesDir)
    .filter((name) => EXAMPLE.test(name))
    .sort();
}

export interface ExampleCase {
  name: string;
  /** "namespace/label=value,...": the workload called. */
  to: string;
  /** The caller's SPIFFE ID; absent for a plaintext caller. */
  from?: string;
  method?: string;
  path?: string;
  host?: string;
  port?: number | string;
  /** The claims of a valid end-user token, if the request carries one. */
  claims?: Record<string, unknown>;
  expect: 'ALLOW' | 'DENY';
  rule?: string;
  /** A DENY that asks for multi-factor step-up (401 with an RFC 9470 challenge). */
  stepUp?: boolean;
}

export function casesFileOf(example: string): string {
  return join(casesDir, example.replace(EXAMPLE, '.cases.yaml'));
}

export function readCases(example: string): ExampleCase[] {
  const document = parseYaml(readFileSync(casesFileOf(example), 'utf8')) as { cases?: ExampleCase[] } | null;
  return document?.cases ?? [];
}

/** The example's AuthPolicy object, as written. */
export function readExample(example: string): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
} {
  return parseYaml(readFileSync(join(examplesDir, example), 'utf8')) as ReturnType<typeof readExample>;
}
