import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/helpers/eventually.ts';
import {
  checkPodSidecar,
  eventName,
  isRecreatable,
  PodsWithoutSidecar,
  type PodReportClient,
} from './pods-without-sidecar.ts';

const options = { controlPlaneNamespace: 'lanyard-system' };
const enabledNs: V1Namespace = { metadata: { name: 'shop', labels: { 'lanyard.dev/inject': 'enabled' } } };
const plainNs: V1Namespace = { metadata: { name: 'shop', labels: {} } };

function pod(
  overrides: { labels?: Record<string, string>; namespace?: string; sidecar?: boolean } = {},
): V1Pod {
  return {
    metadata: {
      name: 'orders-1',
      namespace: overrides.namespace ?? 'shop',
      uid: '0f3c2a9e-1111-2222-3333-444455556666',
      labels: overrides.labels ?? {},
    },
    spec: {
      containers: [{ name: 'app', image: 'app:1' }],
      ...(overrides.sidecar
        ? { initContainers: [{ name: 'lanyard-sidecar', image: 'lanyard:1', restartPolicy: 'Always' }] }
        : {}),
    },
    status: { phase: 'Running' },
  };
}

describe('checkPodSidecar', () => {
  it('finds a pod of an injected namespace without the sidecar', () => {
    const verdict = checkPodSidecar(pod(), enabledNs, options);
    expect(verdict.missing).toBe(true);
    expect(verdict.missing && verdict.message).toMatch(
      /namespace shop is labelled lanyard.dev\/inject=enabled/,
    );
  });

  it('finds a pod labelled for injection in a namespace that is not', () => {
    const verdict = checkPodSidecar(pod({ labels: { 'lanyard.dev/inject': 'enabled' } }), plainNs, options);
    expect(verdict.missing && verdict.message).toMatch(/the pod is labelled lanyard.dev\/inject=enabled/);
  });

  it.each([
    ['a pod with the sidecar', pod({ sidecar: true }), enabledNs, 'has-sidecar'],
    ['a pod of a namespace not labelled', pod(), plainNs, 'not-selected'],
    ['a pod of an unknown namespace', pod(), undefined, 'not-selected'],
    ['a pod that opted out', pod({ labels: { 'lanyard.dev/inject': 'disabled' } }), enabledNs, 'opted-out'],
    [
      'a hostNetwork pod',
      { ...pod(), spec: { ...pod().spec!, hostNetwork: true } },
      enabledNs,
      'host-network',
    ],
    [
      "a pod of the control plane's namespace",
      pod({ namespace: 'lanyard-system', labels: { 'lanyard.dev/inject': 'enabled' } }),
      enabledNs,
      'control-plane',
    ],
    ['a finished pod', { ...pod(), status: { phase: 'Succeeded' } }, enabledNs, 'finished'],
    ['a failed pod', { ...pod(), status: { phase: 'Failed' } }, enabledNs, 'finished'],
    [
      'a pod of a namespace being deleted',
      pod(),
      { ...enabledNs, status: { phase: 'Terminating' } },
      'finished',
    ],
    [
      'a terminating pod',
      { ...pod(), metadata: { ...pod().metadata, deletionTimestamp: new Date() } },
      enabledNs,
      'finished',
    ],
    [
      'a pod the injector skipped on purpose',
      {
        ...pod(),
        metadata: { ...pod().metadata, annotations: { 'lanyard.dev/injection-skipped': 'name-conflict' } },
      },
      enabledNs,
      'skipped',
    ],
  ] as const)('does not report %s', (_what, subject, namespace, reason) => {
    expect(checkPodSidecar(subject, namespace, options)).toEqual({ missing: false, reason });
  });
});

describe('isRecreatable and eventName', () => {
  it('evicts only pods that a controller recreates', () => {
    expect(isRecreatable(pod())).toBe(false);
    const owned = pod();
    owned.metadata!.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders', uid: 'u', controller: true },
    ];
    expect(isRecreatable(owned)).toBe(true);
  });

  it('names one Event per pod, within the length an object name allows', () => {
    expect(eventName(pod())).toBe('orders-1.lanyard-no-sidecar.0f3c2a9e');
    const long = pod();
    long.metadata!.name = 'a'.repeat(253);
    expect(eventName(long).length).toBeLessThanOrEqual(253);
  });
});

class FakeReports implements PodReportClient {
  events = new Set<string>();
  evictions: string[] = [];
  refuse = 0;
  createEvent(subject: V1Pod) {
    const name = eventName(subject);
    const created = !this.events.has(name);
    this.events.add(name);
    return Promise.resolve(created);
  }
  evict(subject: V1Pod) {
    this.evictions.push(subject.metadata!.name!);
    if (this.refuse > 0) {
      this.refuse -= 1;
      return Promise.resolve('refused' as const);
    }
    return Promise.resolve('evicted' as const);
  }
}

function reconciler(pods: Map<string, V1Pod>, evict: boolean, leader = { value: true }) {
  const client = new FakeReports();
  const registry = new Registry();
  const subject = new PodsWithoutSidecar({
    client,
    pod: (key) => pods.get(key),
    pods: () => [...pods.values()],
    namespace: (name) => (name === 'shop' ? enabledNs : plainNs),
    check: options,
    isLeader: () => leader.value,
    evict,
    registry,
    evictionRetryMs: 20,
  });
  const gauge = async () =>
    (await registry.getSingleMetricAsString('lanyard_pods_without_sidecar')).split('\n').at(-1);
  return { client, subject, gauge };
}

describe('PodsWithoutSidecar', () => {
  it('reports a pod once, however often it is looked at, and counts it in the gauge', async () => {
    const pods = new Map([['shop/orders-1', pod()]]);
    const { client, subject, gauge } = reconciler(pods, false);
    subject.resync();
    await eventually(() => subject.count === 1, 'the pod counted');
    subject.resync();
    subject.podChanged('shop/orders-1');
    await eventually(() => client.events.size === 1, 'one Event');
    await expect(gauge()).resolves.toBe('lanyard_pods_without_sidecar{namespace="shop"} 1');
    expect(client.evictions).toEqual([]);
    pods.delete('shop/orders-1');
    subject.podChanged('shop/orders-1');
    await eventually(() => subject.count === 0, 'the deleted pod forgotten');
    await expect(gauge()).resolves.not.toMatch(/namespace="shop"/);
    await subject.stop();
  });

  it('lets only the leader write Events; the gauge counts on every replica', async () => {
    const leader = { value: false };
    const { client, subject } = reconciler(new Map([['shop/orders-1', pod()]]), true, leader);
    subject.resync();
    await eventually(() => subject.count === 1, 'the pod counted');
    expect(client.events.size).toBe(0);
    expect(client.evictions).toEqual([]);
    leader.value = true;
    subject.resync();
    await eventually(() => client.events.size === 1, 'the Event by the new leader');
    await subject.stop();
  });

  it('evicts a recreatable pod when enabled, retrying while a budget refuses; never a bare pod', async () => {
    const owned = pod();
    owned.metadata!.name = 'orders-2';
    owned.metadata!.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders', uid: 'u', controller: true },
    ];
    const pods = new Map([
      ['shop/orders-1', pod()],
      ['shop/orders-2', owned],
    ]);
    const { client, subject } = reconciler(pods, true);
    client.refuse = 1;
    subject.resync();
    await eventually(() => client.evictions.length === 2, 'a refused eviction retried');
    expect(client.evictions).toEqual(['orders-2', 'orders-2']);
    expect(client.events.size).toBe(2);
    await subject.stop();
  });
});
