import type { SecretClient, SecretData } from '../kube/secrets.ts';
import { caError } from './errors.ts';
import type { KeyStore, StoredState } from './keystore.ts';
import { parseState, serializeState, type CaState } from './state.ts';

const KEY = 'ca-state.json';

/**
 * The CA state in one Kubernetes Secret. Replicas race with create (only one wins; the rest
 * get 409 and read the winner back) and update with the resourceVersion they read.
 */
export class SecretKeyStore implements KeyStore {
  constructor(
    private readonly secrets: SecretClient,
    private readonly namespace: string,
    private readonly name: string,
  ) {}

  private stored(secret: SecretData): StoredState {
    const text = secret.data[KEY];
    if (!text) throw caError('ERR_CA_KEY_MATERIAL_INVALID', `Secret ${this.name} has no ${KEY}`);
    return { state: parseState(text.toString('utf8')), revision: secret.resourceVersion };
  }

  async load(): Promise<StoredState | undefined> {
    const secret = await this.secrets.get(this.namespace, this.name);
    return secret && this.stored(secret);
  }

  async createIfAbsent(state: CaState): Promise<StoredState> {
    const data = { [KEY]: Buffer.from(serializeState(state)) };
    const created = await this.secrets.create(this.namespace, this.name, data);
    if (created.ok) return this.stored(created.secret);
    const winner = await this.load();
    if (!winner) throw caError('ERR_CA_KEYSTORE_CONFLICT', 'CA Secret vanished after a create conflict');
    return winner;
  }

  async replace(state: CaState, revision: string): Promise<StoredState> {
    const data = { [KEY]: Buffer.from(serializeState(state)) };
    const replaced = await this.secrets.replace(this.namespace, this.name, data, revision);
    if (!replaced.ok) throw caError('ERR_CA_KEYSTORE_CONFLICT', 'CA Secret changed since it was read');
    return this.stored(replaced.secret);
  }
}
