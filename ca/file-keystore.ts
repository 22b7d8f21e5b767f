import { createHash } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { caError } from './errors.ts';
import type { KeyStore, StoredState } from './keystore.ts';
import { parseState, serializeState, type CaState } from './state.ts';

const revisionOf = (text: string) => createHash('sha256').update(text).digest('hex');

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** Local mode: the state in one file, readable by its owner only (0600). */
export class FileKeyStore implements KeyStore {
  constructor(private readonly path: string) {}

  async load(): Promise<StoredState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    return { state: parseState(text), revision: revisionOf(text) };
  }

  async createIfAbsent(state: CaState): Promise<StoredState> {
    const text = serializeState(state);
    try {
      // 'wx' creates atomically or fails: of two racing processes exactly one writes.
      await writeFile(this.path, text, { flag: 'wx', mode: 0o600 });
      return { state, revision: revisionOf(text) };
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    const stored = await this.load();
    if (!stored) throw caError('ERR_CA_KEYSTORE_CONFLICT', 'key store file vanished while being created');
    return stored;
  }

  async replace(state: CaState, revision: string): Promise<StoredState> {
    const current = await this.load();
    if (current?.revision !== revision) {
      throw caError('ERR_CA_KEYSTORE_CONFLICT', 'key store file changed since it was read');
    }
    const text = serializeState(state);
    const temp = `${this.path}.${process.pid}.tmp`;
    await writeFile(temp, text, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, this.path);
    return { state, revision: revisionOf(text) };
  }
}
