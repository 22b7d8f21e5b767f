// The pure half of local mode: AuthPolicy YAML text in, compiled policies and messages out.
// Reading the folder is the job of ./folder.ts; this module never touches the file system.
import { parseAllDocuments } from 'yaml';
import { compilePolicies, type PolicySet } from './compile-all.ts';
import type { CompileOptions, Diagnostic } from './model.ts';

export interface PolicyFile {
  /** Shown in messages, e.g. "policies/orders.yaml". */
  readonly name: string;
  readonly text: string;
  /** The file's size, when its text was not read because it is too large. */
  readonly bytes?: number;
}

export interface LoadOptions extends CompileOptions {
  /** The namespace of policies whose metadata names none. Default "default". */
  readonly defaultNamespace?: string;
  /** Largest file accepted, in bytes. Default 1 MiB. */
  readonly maxFileBytes?: number;
  /** Most files accepted. Default 1000. */
  readonly maxFiles?: number;
  /** Most documents accepted across all files. Default 10000. */
  readonly maxDocuments?: number;
}

export interface LoadedPolicies {
  readonly set: PolicySet;
  /** The AuthPolicy documents that were read, in order (what `set` compiled). */
  readonly inputs: readonly unknown[];
  /** Every problem, each message naming its file and policy: what `lanyard dev` prints. */
  readonly messages: readonly string[];
  /** Problems with files themselves (too large, not YAML, not an AuthPolicy). */
  readonly fileErrors: readonly Diagnostic[];
}

export const LOAD_DEFAULTS = Object.freeze({
  defaultNamespace: 'default',
  maxFileBytes: 1024 * 1024,
  maxFiles: 1000,
  maxDocuments: 10_000,
});

function sourceError(file: string, message: string): Diagnostic {
  return { code: 'ERR_POLICY_SOURCE', path: file, message: `${file}: ${message}` };
}

/** Parses multi-document YAML files and compiles every AuthPolicy in them. */
export function loadPolicyDocuments(files: readonly PolicyFile[], options: LoadOptions = {}): LoadedPolicies {
  const { defaultNamespace, maxFileBytes, maxFiles, maxDocuments, ...compileOptions } = {
    ...LOAD_DEFAULTS,
    ...options,
  };
  const fileErrors: Diagnostic[] = [];
  const inputs: unknown[] = [];
  const origins: string[] = [];
  if (files.length > maxFiles)
    fileErrors.push(sourceError('(folder)', `more than ${maxFiles} policy files; the rest are ignored`));
  for (const file of files.slice(0, maxFiles)) {
    if ((file.bytes ?? Buffer.byteLength(file.text, 'utf8')) > maxFileBytes) {
      fileErrors.push(sourceError(file.name, `larger than ${maxFileBytes} bytes`));
      continue;
    }
    for (const [i, document] of parseAllDocuments(file.text).entries()) {
      const where = `${file.name} (document ${i + 1})`;
      const problem = document.errors[0];
      if (problem) {
        fileErrors.push(sourceError(where, `not valid YAML: ${problem.message}`));
        continue;
      }
      let value: { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown> } | null;
      try {
        value = document.toJS({ maxAliasCount: 100 }) as typeof value;
      } catch (error) {
        // The yaml package refuses alias bombs here rather than expanding them.
        fileErrors.push(sourceError(where, `not valid YAML: ${(error as Error).message}`));
        continue;
      }
      if (value === null || value === undefined) continue;
      if (value.apiVersion !== 'lanyard.dev/v1alpha1' || value.kind !== 'AuthPolicy') {
        fileErrors.push(
          sourceError(where, 'is not an AuthPolicy (apiVersion lanyard.dev/v1alpha1, kind AuthPolicy)'),
        );
        continue;
      }
      if (inputs.length >= maxDocuments) {
        fileErrors.push(sourceError(where, `more than ${maxDocuments} policies; the rest are ignored`));
        break;
      }
      inputs.push({ ...value, metadata: { namespace: defaultNamespace, ...value.metadata } });
      origins.push(file.name);
    }
  }
  const set = compilePolicies(inputs, compileOptions);
  const messages = [
    ...fileErrors.map((error) => error.message),
    ...set.results.flatMap((result, i) =>
      [...result.errors, ...result.warnings].map(
        (d) =>
          `${origins[i]} (${result.ref.namespace}/${result.ref.name}): ${d.code.startsWith('WARN') ? 'warning: ' : ''}${d.message}`,
      ),
    ),
  ];
  return { set, inputs, messages, fileErrors };
}
