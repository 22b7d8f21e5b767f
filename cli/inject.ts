// `lanyard inject -f <file|->`: the injection webhook's mutation, offline. Each Pod, and the pod
// template of each Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob (also inside
// a List), gets the patch that controller/inject/injector.ts computes; other documents pass
// through unchanged. Exit 0 printed, 2 bad flags or a manifest that is not YAML or too large.
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import {
  injectPod,
  resolveInjectOptions,
  type InjectOptions,
  type JsonPatchOp,
} from '../controller/inject/injector.ts';
import { parseSpiffeId } from '../lib/spiffe.ts';
import { lanyardVersion } from '../lib/version.ts';
import type { CliIo } from './run.ts';
import { UsageError } from './request-args.ts';

/** Bounds: the API server refuses objects over ~1.5 MiB; a manifest holds a bounded number. */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;
export const MAX_DOCUMENTS = 1000;

export const injectUsage = `Usage: lanyard inject -f <file|-> [options]

Adds the Lanyard sidecar to Kubernetes manifests as the injection webhook would, and prints
them as YAML: Pods, and the pod templates of Deployments, StatefulSets, DaemonSets,
ReplicaSets, Jobs and CronJobs; every other document passes through unchanged.

Options:
  -f, --filename <file|->     The manifest (multi-document YAML or JSON); - reads stdin
  --image <image>             Sidecar image (default ghcr.io/lanyard/lanyard:<version>)
  --control-plane <host:port> What sidecars dial (default lanyard-controller.lanyard-system.svc:15012)
  --control-plane-id <id>     The control plane's SPIFFE ID, when not the default
  --trust-domain <domain>     Default cluster.local
`;

const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 6902 `add` and `replace`, the only operations the injector emits. */
export function applyJsonPatch<T>(document: T, patch: readonly JsonPatchOp[]): T {
  const result = structuredClone(document) as unknown;
  for (const operation of patch) {
    const segments = operation.path
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segments.pop()!;
    let parent = result as Json | unknown[];
    for (const segment of segments) {
      parent = (Array.isArray(parent) ? parent[Number(segment)] : parent[segment]) as Json | unknown[];
      if (typeof parent !== 'object' || parent === null) throw new Error(`no target for ${operation.path}`);
    }
    const value = structuredClone(operation.value);
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (operation.op === 'add') parent.splice(index, 0, value);
      else parent[index] = value;
    } else {
      parent[last] = value;
    }
  }
  return result as T;
}

interface Outcome {
  object: unknown;
  /** One line per pod or template seen: what the injector decided. */
  notes: string[];
}

function injectInto(object: unknown, options: InjectOptions, where: string): Outcome {
  if (!isObject(object)) return { object, notes: [] };
  const kind = typeof object.kind === 'string' ? object.kind : '';
  const name =
    isObject(object.metadata) && typeof object.metadata.name === 'string' ? object.metadata.name : '?';
  if (kind === 'List' && Array.isArray(object.items)) {
    const notes: string[] = [];
    const items = object.items.map((item: unknown, i) => {
      const outcome = injectInto(item, options, `${where} item ${i + 1}`);
      notes.push(...outcome.notes);
      return outcome.object;
    });
    return { object: { ...object, items }, notes };
  }
  const label = `${where}: ${kind}/${name}`;
  if (kind === 'Pod') {
    const result = injectPod(object, options);
    return { object: applyJsonPatch(object, result.patch), notes: [`${label}: ${result.message}`] };
  }
  const path = TEMPLATE_PATHS[kind];
  if (!path) return { object, notes: [] };
  let template: unknown = object;
  for (const key of path) template = isObject(template) ? template[key] : undefined;
  if (!isObject(template)) return { object, notes: [`${label}: no pod template; left unchanged`] };
  const result = injectPod({ metadata: template.metadata ?? {}, spec: template.spec } as V1Pod, options);
  const patch = result.patch.map((op) => ({ ...op, path: `/${path.join('/')}${op.path}` }));
  // A template without metadata: the injector adds annotations under /metadata, which exists.
  const base = isObject(template.metadata)
    ? object
    : applyJsonPatch(object, [{ op: 'add', path: `/${path.join('/')}/metadata`, value: {} }]);
  return { object: applyJsonPatch(base, patch), notes: [`${label}: ${result.message}`] };
}

async function readInput(file: string, readStdin: () => AsyncIterable<Buffer>): Promise<string> {
  if (file !== '-') {
    if (statSync(file).size > MAX_INPUT_BYTES)
      throw new UsageError(`${file} is larger than ${MAX_INPUT_BYTES} bytes`);
    return readFileSync(file, 'utf8');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of readStdin()) {
    size += chunk.length;
    if (size > MAX_INPUT_BYTES) throw new UsageError(`stdin is larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Injects every document of a manifest; throws a UsageError for one that is not YAML or too big. */
export function injectManifest(text: string, options: InjectOptions): { yaml: string; notes: string[] } {
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) throw new UsageError('the manifest is not YAML: it holds no document');
  if (documents.length > MAX_DOCUMENTS)
    throw new UsageError(`the manifest has more than ${MAX_DOCUMENTS} documents`);
  const out: string[] = [];
  const notes: string[] = [];
  documents.forEach((document, i) => {
    const where = `document ${i + 1}`;
    const [start, , end] = document.range;
    if (Buffer.byteLength(text.slice(start, end)) > MAX_DOCUMENT_BYTES) {
      throw new UsageError(`${where} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    }
    const error = document.errors[0];
    if (error)
      throw new UsageError(`${where} is not YAML: ${error.message.split('\n')[0]!.replace(/:$/, '')}`);
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (!isObject(value)) throw new UsageError(`${where} is not a Kubernetes object (a mapping)`);
    const outcome = injectInto(value, options, where);
    notes.push(...outcome.notes);
    if (outcome.notes.length > 0) {
      out.push(stringify(outcome.object));
    } else {
      // As written, comments included; the separators are ours to place.
      if (document.directives) document.directives.docStart = null;
      out.push(document.toString());
    }
  });
  return { yaml: out.join('---\n'), notes };
}

export interface InjectDeps {
  readStdin?: () => AsyncIterable<Buffer>;
}

export async function runInject(args: string[], io: CliIo, deps: InjectDeps = {}): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        filename: { type: 'string', short: 'f' },
        image: { type: 'string' },
        'control-plane': { type: 'string' },
        'control-plane-id': { type: 'string' },
        'trust-domain': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(injectUsage);
      return 0;
    }
    if (!values.filename) throw new UsageError('-f <file|-> is required');
    const options: InjectOptions = {
      image: values.image ?? `ghcr.io/lanyard/lanyard:${lanyardVersion()}`,
      controlPlaneAddress: values['control-plane'] ?? 'lanyard-controller.lanyard-system.svc:15012',
      trustDomain: values['trust-domain'] ?? 'cluster.local',
      ...(values['control-plane-id'] ? { controlPlaneId: values['control-plane-id'] } : {}),
    };
    try {
      resolveInjectOptions(options);
      if (options.controlPlaneId) parseSpiffeId(options.controlPlaneId);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const text = await readInput(values.filename, deps.readStdin ?? (() => process.stdin));
    const { yaml, notes } = injectManifest(text, options);
    for (const note of notes) io.err(`${note}\n`);
    io.out(yaml);
    return 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (error instanceof UsageError || code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`lanyard inject: ${(error as Error).message}\n\n${injectUsage}`);
      return 2;
    }
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      io.err(`lanyard inject: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}
