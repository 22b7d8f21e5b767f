import type { V1ConfigMap } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { RootsPublisher, rootsConfigMapAction, type ConfigMapClient } from './roots-configmap.ts';

const ROOTS = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const NEXT = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';
const managed = { 'app.kubernetes.io/managed-by': 'lanyard' };

const stored = (labels: Record<string, string>, data: Record<string, string>): V1ConfigMap => ({
  metadata: { name: 'lanyard-roots', namespace: 'shop', resourceVersion: '42', labels },
  data,
});

describe('rootsConfigMapAction', () => {
  it('creates a ConfigMap labelled as ours when there is none', () => {
    expect(rootsConfigMapAction(undefined, 'shop', ROOTS)).toEqual({
      kind: 'create',
      body: {
        metadata: { name: 'lanyard-roots', namespace: 'shop', labels: managed },
        data: { 'roots.pem': ROOTS },
      },
    });
  });

  it('leaves ours alone when it holds the roots', () => {
    expect(rootsConfigMapAction(stored(managed, { 'roots.pem': ROOTS }), 'shop', ROOTS)).toEqual({
      kind: 'current',
    });
  });

  it('updates ours, with the resourceVersion it read, when the roots changed or keys were added', () => {
    for (const data of [{ 'roots.pem': ROOTS }, { 'roots.pem': ROOTS + NEXT, extra: 'x' }] as Record<
      string,
      string
    >[]) {
      const action = rootsConfigMapAction(stored({ ...managed, team: 'a' }, data), 'shop', ROOTS + NEXT);
      expect(action).toEqual({
        kind: 'update',
        body: {
          metadata: {
            name: 'lanyard-roots',
            namespace: 'shop',
            resourceVersion: '42',
            labels: { ...managed, team: 'a' },
          },
          data: { 'roots.pem': ROOTS + NEXT },
        },
      });
    }
  });

  it('never touches a ConfigMap of that name that someone else made', () => {
    for (const labels of [{}, { 'app.kubernetes.io/managed-by': 'Helm' }] as Record<string, string>[]) {
      expect(rootsConfigMapAction(stored(labels, { 'roots.pem': 'mine' }), 'shop', ROOTS)).toEqual({
        kind: 'unmanaged',
      });
    }
  });
});

class FakeConfigMaps implements ConfigMapClient {
  readonly objects = new Map<string, V1ConfigMap>();
  readonly calls: string[] = [];
  get(namespace: string, name: string) {
    this.calls.push(`get ${namespace}`);
    return Promise.resolve(structuredClone(this.objects.get(`${namespace}/${name}`)));
  }
  create(namespace: string, body: V1ConfigMap) {
    this.calls.push(`create ${namespace}`);
    this.objects.set(`${namespace}/${body.metadata!.name}`, structuredClone(body));
    return Promise.resolve();
  }
  replace(namespace: string, name: string, body: V1ConfigMap) {
    this.calls.push(`replace ${namespace}`);
    this.objects.set(`${namespace}/${name}`, structuredClone(body));
    return Promise.resolve();
  }
}

describe('RootsPublisher', () => {
  it('creates, keeps, then updates on a root change', async () => {
    const client = new FakeConfigMaps();
    let roots = ROOTS;
    const publisher = new RootsPublisher({ client, rootsPem: () => roots });
    await expect(publisher.publish('shop')).resolves.toBe('create');
    await expect(publisher.publish('shop')).resolves.toBe('current');
    roots = ROOTS + NEXT;
    await expect(publisher.publish('shop')).resolves.toBe('update');
    expect(client.objects.get('shop/lanyard-roots')!.data).toEqual({ 'roots.pem': ROOTS + NEXT });
    expect(client.calls).toEqual(['get shop', 'create shop', 'get shop', 'get shop', 'replace shop']);
  });

  it('warns once, with its code and an Event, about a ConfigMap that is not ours', async () => {
    const client = new FakeConfigMaps();
    client.objects.set('shop/lanyard-roots', stored({}, { 'roots.pem': 'mine' }));
    const warnings: unknown[] = [];
    const events: string[] = [];
    const publisher = new RootsPublisher({
      client,
      rootsPem: () => ROOTS,
      warnUnmanaged: (namespace) => {
        events.push(namespace);
        return Promise.resolve();
      },
      log: { debug() {}, info() {}, warn: (fields) => warnings.push(fields), error() {} },
    });
    await expect(publisher.publish('shop')).resolves.toBe('unmanaged');
    await expect(publisher.publish('shop')).resolves.toBe('unmanaged');
    expect(client.objects.get('shop/lanyard-roots')!.data).toEqual({ 'roots.pem': 'mine' });
    expect(client.calls.filter((call) => !call.startsWith('get'))).toEqual([]);
    expect(events).toEqual(['shop']);
    expect(warnings).toEqual([
      expect.objectContaining({ code: 'ERR_ROOTS_CONFIGMAP_UNMANAGED', namespace: 'shop' }),
    ]);
  });
});
