import { describe, expect, it } from 'vitest';
import type { SecretClient, SecretData } from '../kube/secrets.ts';
import { FakeClock } from '../test/helpers/clock.ts';
import { generateJwtKey } from './jwt.ts';
import { SecretKeyStore } from './secret-keystore.ts';
import type { CaState } from './state.ts';

/** An in-memory stand-in for one namespace's Secrets, with resourceVersion checks. */
class FakeSecrets implements SecretClient {
  readonly items = new Map<string, SecretData>();
  private version = 0;
  get(_namespace: string, name: string) {
    return Promise.resolve(this.items.get(name));
  }
  create(_namespace: string, name: string, data: Record<string, Buffer>) {
    if (this.items.has(name)) return Promise.resolve({ ok: false as const, reason: 'conflict' as const });
    const secret = { data, resourceVersion: String(++this.version) };
    this.items.set(name, secret);
    return Promise.resolve({ ok: true as const, secret });
  }
  replace(_namespace: string, name: string, data: Record<string, Buffer>, resourceVersion: string) {
    if (this.items.get(name)?.resourceVersion !== resourceVersion) {
      return Promise.resolve({ ok: false as const, reason: 'conflict' as const });
    }
    const secret = { data, resourceVersion: String(++this.version) };
    this.items.set(name, secret);
    return Promise.resolve({ ok: true as const, secret });
  }
}

function state(rootPem: string): CaState {
  const now = new FakeClock().now();
  return {
    version: 1,
    active: { rootPem, signerCertPem: rootPem, signerKeyPem: 'k', chainPems: [], createdAt: now },
    jwtCurrent: generateJwtKey(now),
  };
}

describe('SecretKeyStore', () => {
  it('on a create conflict returns the state of the replica that won', async () => {
    const secrets = new FakeSecrets();
    const a = new SecretKeyStore(secrets, 'lanyard', 'lanyard-ca');
    const b = new SecretKeyStore(secrets, 'lanyard', 'lanyard-ca');
    const first = await a.createIfAbsent(state('root-a'));
    const second = await b.createIfAbsent(state('root-b'));
    expect(second.state.active.rootPem).toBe('root-a');
    expect(second.revision).toBe(first.revision);
  });

  it('refuses a replace at a stale resourceVersion', async () => {
    const store = new SecretKeyStore(new FakeSecrets(), 'lanyard', 'lanyard-ca');
    const created = await store.createIfAbsent(state('root-a'));
    await store.replace(state('root-b'), created.revision);
    await expect(store.replace(state('root-c'), created.revision)).rejects.toMatchObject({
      code: 'ERR_CA_KEYSTORE_CONFLICT',
    });
    expect((await store.load())?.state.active.rootPem).toBe('root-b');
  });
});
