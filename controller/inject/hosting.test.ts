import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../ca/file-keystore.ts';
import { Keyring } from '../../ca/keyring.ts';
import { systemClock } from '../../lib/clock.ts';
import { TEST_ROTATION } from '../../test/helpers/ca-server.ts';
import { InjectionHosting, type InjectionHostingOptions } from './hosting.ts';

// No API server: as a follower with nothing in its caches, the hosting makes no API call.
const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: 'none', server: 'https://127.0.0.1:1' }],
  users: [{ name: 'none' }],
  contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
  currentContext: 'none',
});
const cache = {
  pod: () => undefined,
  podList: () => [],
  namespace: () => undefined,
  namespaceList: () => [],
};

let dir: string;
let keyring: Keyring;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lanyard-hosting-'));
  keyring = await Keyring.open({
    store: new FileKeyStore(join(dir, 'ca.json')),
    trustDomain: 'cluster.local',
    clock: systemClock,
    rotation: TEST_ROTATION,
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hosting(webhook: boolean): InjectionHosting {
  const options: InjectionHostingOptions = {
    kubeConfig,
    namespace: 'lanyard-system',
    keyring,
    cache,
    isLeader: () => false,
    registry: new Registry(),
    clock: systemClock,
    ...(webhook
      ? {
          webhook: {
            port: 0,
            host: '127.0.0.1',
            configName: 'lanyard-injector',
            service: 'lanyard-webhook',
            inject: {
              image: 'example.invalid/lanyard:test',
              controlPlaneAddress: 'lanyard-controller.lanyard-system.svc:15012',
              trustDomain: 'cluster.local',
            },
          },
        }
      : {}),
  };
  return new InjectionHosting(options);
}

describe('InjectionHosting', () => {
  it('is not ready until the webhook listens with its certificate', async () => {
    const subject = hosting(true);
    expect(subject.readiness()).toEqual(['the injection webhook has no serving certificate yet']);
    expect(subject.webhookPort).toBeUndefined();
    await subject.start();
    try {
      expect(subject.readiness()).toEqual([]);
      expect(subject.webhookPort).toBeGreaterThan(0);
      expect(subject.servingCertificate?.subjectAltName).toBe(
        'DNS:lanyard-webhook.lanyard-system.svc, DNS:lanyard-webhook.lanyard-system.svc.cluster.local',
      );
      expect(subject.servingCertificate?.checkIssued(keyring.signer.cert)).toBe(true);
      const before = subject.servingCertificate!.fingerprint256;
      subject.renewServingCertificate();
      expect(subject.servingCertificate!.fingerprint256).not.toBe(before);
    } finally {
      await subject.stop();
    }
  });

  it('without a webhook, is ready at once and has no certificate to renew', async () => {
    const subject = hosting(false);
    expect(subject.readiness()).toEqual([]);
    await subject.start();
    expect(subject.webhookPort).toBeUndefined();
    expect(() => subject.renewServingCertificate()).toThrow(TypeError);
    await subject.stop();
  });
});
