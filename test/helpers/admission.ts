// AdmissionReview fixtures (JSON files under test/fixtures/admission/), read afresh on each load
// so that no test sees another's changes, and a small RFC 6902 applier to check patches.
import { readFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';

const dir = new URL('../fixtures/admission/', import.meta.url);

export interface ReviewFixture {
  apiVersion: string;
  kind: string;
  request: { uid: string; object: V1Pod; [key: string]: unknown };
}

export function loadReview(name: string): ReviewFixture {
  return JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8')) as ReviewFixture;
}

export function loadPod(name: string): V1Pod {
  return loadReview(name).request.object;
}

export interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
}

function unescape(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Applies `add` and `replace` operations as the API server would; throws on a bad path. */
export function applyPatch<T>(document: T, patch: readonly PatchOp[]): T {
  const result = structuredClone(document) as unknown;
  for (const operation of patch) {
    const segments = operation.path.split('/').slice(1).map(unescape);
    const last = segments.pop();
    if (last === undefined) throw new Error(`empty path in ${JSON.stringify(operation)}`);
    let parent = result as Record<string, unknown> | unknown[];
    for (const segment of segments) {
      const next = Array.isArray(parent) ? parent[Number(segment)] : parent[segment];
      if (typeof next !== 'object' || next === null) throw new Error(`no parent for ${operation.path}`);
      parent = next as Record<string, unknown> | unknown[];
    }
    const value = structuredClone(operation.value);
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length)
        throw new Error(`bad index ${operation.path}`);
      if (operation.op === 'add') parent.splice(index, 0, value);
      else if (operation.op === 'replace' && index < parent.length) parent[index] = value;
      else throw new Error(`cannot ${operation.op} ${operation.path}`);
    } else {
      if (operation.op === 'replace' && !(last in parent))
        throw new Error(`replace of missing ${operation.path}`);
      if (operation.op !== 'add' && operation.op !== 'replace')
        throw new Error(`unsupported op ${operation.op}`);
      parent[last] = value;
    }
  }
  return result as T;
}
