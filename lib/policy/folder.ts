// The thin file adapter of local mode: reads a folder of AuthPolicy YAML files and watches it.
// Everything else (parsing, checking, compiling) is in the pure ./loader.ts.
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import {
  LOAD_DEFAULTS,
  loadPolicyDocuments,
  type LoadedPolicies,
  type LoadOptions,
  type PolicyFile,
} from './loader.ts';

export interface WatchOptions extends LoadOptions {
  /** Quiet time after the last change before reloading, in ms. Default 100. */
  readonly debounceMs?: number;
}

function readPolicyFiles(dir: string, options: LoadOptions): PolicyFile[] {
  const maxFileBytes = options.maxFileBytes ?? LOAD_DEFAULTS.maxFileBytes;
  const names = readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort();
  return names.map((name) => {
    const path = join(dir, name);
    // A file too large is not read at all: the loader reports it from its placeholder text.
    const size = statSync(path).size;
    return {
      name: path,
      text: size > maxFileBytes ? ' '.repeat(maxFileBytes + 1) : readFileSync(path, 'utf8'),
    };
  });
}

/** Loads every *.yaml and *.yml file of a folder (not its subfolders) into the compiler. */
export function loadPolicyFolder(dir: string, options: LoadOptions = {}): LoadedPolicies {
  return loadPolicyDocuments(readPolicyFiles(dir, options), options);
}

/**
 * Loads the folder, then reloads it whenever it changes (debounced) and hands each result to
 * onLoad. A folder that cannot be read is reported through onError and the last result stays.
 */
export function watchPolicyFolder(
  dir: string,
  onLoad: (loaded: LoadedPolicies) => void,
  onError: (error: unknown) => void,
  options: WatchOptions = {},
): { readonly initial: LoadedPolicies; close(): void } {
  const debounceMs = options.debounceMs ?? 100;
  if (!Number.isInteger(debounceMs) || debounceMs < 0)
    throw new TypeError('debounceMs must be a non-negative integer');
  const initial = loadPolicyFolder(dir, options);
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dir, () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        onLoad(loadPolicyFolder(dir, options));
      } catch (error) {
        onError(error);
      }
    }, debounceMs);
  });
  watcher.on('error', onError);
  return {
    initial,
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
