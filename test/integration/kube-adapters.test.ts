// The informer and leader election against the real API server.
import { CoordinationV1Api, CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer, type InformerEvent } from '../../kube/informer.ts';
import { LeaderElector } from '../../kube/leader.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, uniqueName } from '../helpers/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = uniqueName('kube-adapters');

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});
afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

function configMapInformer(events: InformerEvent<V1ConfigMap>[], options: { watchdogMs?: number } = {}) {
  return new Informer<V1ConfigMap>({
    name: 'configmaps',
    kubeConfig: kc,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: () => core.listNamespacedConfigMap({ namespace }),
    onEvent: (event) => events.push(event),
    ...options,
  });
}

describe('Informer', () => {
  it('lists, then delivers adds, updates and deletes from the watch', async () => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'before' }, data: { a: '1' } },
    });
    const events: InformerEvent<V1ConfigMap>[] = [];
    const informer = configMapInformer(events);
    await informer.start();
    try {
      expect(events.map((e) => `${e.type} ${e.key}`)).toContain(`added ${namespace}/before`);

      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: 'later' }, data: { a: '1' } },
      });
      await core.replaceNamespacedConfigMap({
        name: 'later',
        namespace,
        body: { metadata: { name: 'later' }, data: { a: '2' } },
      });
      await core.deleteNamespacedConfigMap({ name: 'before', namespace });

      await eventually(
        () => events.some((e) => e.type === 'deleted' && e.key === `${namespace}/before`),
        'delete',
      );
      await eventually(() => informer.get(`${namespace}/later`)?.data?.a === '2', 'update');
      expect(events.filter((e) => e.key === `${namespace}/later`).map((e) => e.type)).toEqual([
        'added',
        'updated',
      ]);
      expect(informer.get(`${namespace}/before`)).toBeUndefined();
    } finally {
      await informer.stop();
    }
  });

  it('restarts a quiet watch and catches up through a relist', async () => {
    const events: InformerEvent<V1ConfigMap>[] = [];
    const informer = configMapInformer(events, { watchdogMs: 300 });
    await informer.start();
    try {
      await eventually(() => informer.stats.watchdogRestarts >= 1, 'a watchdog restart');
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-restart' } } });
      await eventually(
        () => informer.get(`${namespace}/after-restart`),
        'an object created after the restart',
      );
      expect(informer.stats.lists).toBeGreaterThanOrEqual(2);
    } finally {
      await informer.stop();
    }
  });

  it('finds through relists the adds and deletes that its watch never delivered', async () => {
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'doomed' } } });
    const events: InformerEvent<V1ConfigMap>[] = [];
    // The watch looks at an empty namespace, so it misses every change to the listed objects.
    const blind = new Informer<V1ConfigMap>({
      name: 'blind',
      kubeConfig: kc,
      path: `/api/v1/namespaces/${uniqueName('elsewhere')}/configmaps`,
      list: () => core.listNamespacedConfigMap({ namespace }),
      onEvent: (event) => events.push(event),
      watchdogMs: 300,
    });
    await blind.start();
    try {
      expect(blind.get(`${namespace}/doomed`)).toBeDefined();
      await core.deleteNamespacedConfigMap({ name: 'doomed', namespace });
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'unseen' } } });
      await eventually(() => blind.get(`${namespace}/unseen`), 'the relist to find the new object');
      await eventually(() => blind.get(`${namespace}/doomed`) === undefined, 'the relist to find the delete');
      expect(events.some((e) => e.type === 'deleted' && e.key === `${namespace}/doomed`)).toBe(true);
    } finally {
      await blind.stop();
    }
  });

  it('keeps retrying with backoff when the path is wrong, and stops cleanly', async () => {
    const informer = new Informer<V1ConfigMap>({
      name: 'broken',
      kubeConfig: kc,
      path: '/api/v1/namespaces/x/nothing-here',
      list: () => Promise.reject(new Error('list refused')),
      onEvent: () => undefined,
    });
    const started = informer.start();
    await eventually(() => informer.stats.errors >= 2, 'two failed attempts');
    await informer.stop();
    void started;
    expect(informer.list()).toEqual([]);
  });
});

describe('LeaderElector', () => {
  it('elects exactly one leader and moves leadership when the leader dies', async () => {
    const leaseName = uniqueName('lease');
    const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
    const make = (identity: string) =>
      new LeaderElector({ kubeConfig: kc, namespace, leaseName, identity, ...timing });
    const a = make('replica-a');
    const b = make('replica-b');
    a.start();
    b.start();
    try {
      const leader = await eventually(() => (a.isLeader ? a : b.isLeader ? b : undefined), 'a leader');
      const follower = leader === a ? b : a;
      // Both keep campaigning for a few rounds; there is never a second leader.
      for (let i = 0; i < 10; i += 1) {
        expect([a.isLeader, b.isLeader].filter(Boolean)).toHaveLength(1);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const lease = await kc
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: leaseName, namespace });
      expect(lease.spec?.holderIdentity).toBe(leader === a ? 'replica-a' : 'replica-b');

      // A crash: the leader stops renewing without releasing. The follower takes over once the lease expires.
      (leader as unknown as { stopped: boolean }).stopped = true;
      await eventually(() => follower.isLeader, 'the follower to take over', 15_000);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('hands over at once when the leader stops gracefully', async () => {
    const leaseName = uniqueName('lease');
    const timing = { leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 200 };
    const a = new LeaderElector({ kubeConfig: kc, namespace, leaseName, identity: 'a', ...timing });
    a.start();
    await eventually(() => a.isLeader, 'a to lead');
    const b = new LeaderElector({ kubeConfig: kc, namespace, leaseName, identity: 'b', ...timing });
    b.start();
    try {
      await a.stop();
      expect(a.isLeader).toBe(false);
      // Far sooner than the 30 s lease: the released lease is taken after b observes it for 1 s.
      await eventually(() => b.isLeader, 'b to lead after the release', 10_000);
    } finally {
      await b.stop();
    }
  });
});
