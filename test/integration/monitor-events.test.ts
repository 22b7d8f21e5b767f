// Detections as Kubernetes Events on the control plane's Lease, on the real API server.
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Detection } from '../../controller/monitor/detectors.ts';
import { LeaseEventSink } from '../../controller/monitor/kube-events.ts';
import { kubeConfig, uniqueName } from '../helpers/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = uniqueName('monitor');
const leaseName = 'lanyard-controller';

const detection: Detection = {
  kind: 'bad-tokens',
  subject: { type: 'source', value: '192.0.2.66' },
  windowMs: 60_000,
  threshold: 10,
  count: 10,
  firstMs: Date.now() - 30_000,
  lastMs: Date.now(),
  detail: { failures: { BAD_SIGNATURE: 10 } },
};

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
    namespace,
    body: { metadata: { name: leaseName }, spec: { holderIdentity: 'test' } },
  });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

describe('LeaseEventSink', () => {
  it('writes a Warning Event on the Lease that names the detection', async () => {
    const sink = new LeaseEventSink({ core, namespace, leaseName });
    sink.record(detection);
    sink.record({ ...detection, kind: 'denial-spike', subject: { type: 'user', value: 'mallory' } });
    await sink.settled();
    expect(sink.stats).toEqual({ written: 2, failed: 0, dropped: 0 });
    const events = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=Lease,involvedObject.name=${leaseName}`,
    });
    const seen = events.items.map((e) => [e.type, e.reason, e.source?.component, e.message]).sort();
    expect(seen).toEqual([
      [
        'Warning',
        'BadTokens',
        'lanyard-monitor',
        expect.stringMatching(/^10 expired or forged tokens for source "192\.0\.2\.66" from /),
      ],
      [
        'Warning',
        'DenialSpike',
        'lanyard-monitor',
        expect.stringMatching(/^10 denials for user "mallory" from .*\(threshold 10 in 60s\)$/),
      ],
    ]);
  });

  it('counts a write the API server refuses, and drops beyond its in-flight bound', async () => {
    const sink = new LeaseEventSink({ core, namespace: 'no-such-namespace-x', leaseName, maxInFlight: 1 });
    sink.record(detection);
    sink.record(detection);
    await sink.settled();
    expect(sink.stats).toEqual({ written: 0, failed: 1, dropped: 1 });
  });
});
