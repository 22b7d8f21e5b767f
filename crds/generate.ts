// Regenerates what is derived from crds/authpolicy.yaml: `npx tsx crds/generate.ts`.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { renderReference } from './render-reference.ts';
import { renderSchema } from './render-schema.ts';
import { renderTypes } from './render-types.ts';
import type { AuthPolicyCrd } from './schema.ts';
import { readCrd } from './schema.ts';

/** Every generated file, as [path from the repository root, text]. */
export async function renderAll(crd: AuthPolicyCrd): Promise<[string, string][]> {
  return [
    ['lib/policy/types.generated.ts', await renderTypes(crd)],
    ['lib/policy/schema.generated.ts', await renderSchema(crd)],
    ['docs/authpolicy.md', await renderReference(crd)],
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const [path, text] of await renderAll(readCrd())) {
    writeFileSync(new URL(`../${path}`, import.meta.url), text);
    console.log(`wrote ${path}`);
  }
}
