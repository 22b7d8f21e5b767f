import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyPatch, loadReview, type PatchOp } from '../../test/helpers/admission.ts';
import type { AdmissionReviewOut } from './admission.ts';
import { createTestCa } from '../../test/helpers/pki.ts';
import { buildInjectionWebhook, startInjectionWebhook } from './server.ts';

const options = {
  image: 'ghcr.io/lanyard/lanyard:0.1.0',
  controlPlaneAddress: 'lanyard-controller.lanyard-system.svc:15012',
  trustDomain: 'cluster.local',
};

let app: FastifyInstance;

beforeEach(() => {
  app = buildInjectionWebhook({ options, bodyLimit: 64 * 1024 });
});

afterEach(async () => {
  await app.close();
});

async function post(body: unknown) {
  return app.inject({ method: 'POST', url: '/inject', payload: body as object });
}

function decodePatch(review: AdmissionReviewOut): PatchOp[] {
  expect(review.response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(review.response.patch ?? '', 'base64').toString('utf8')) as PatchOp[];
}

describe('injection webhook', () => {
  it('answers a Pod CREATE with the uid, allowed and a base64 JSON Patch', async () => {
    const review = loadReview('pod-create');
    const reply = await post(review);
    expect(reply.statusCode).toBe(200);
    const out = reply.json<AdmissionReviewOut>();
    expect(out).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: review.request.uid, allowed: true },
    });
    const pod = applyPatch(review.request.object, decodePatch(out));
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['lanyard-init', 'lanyard-sidecar']);
  });

  it('gives a dry-run request the same patch, since injection has no side effects', async () => {
    const real = (await post(loadReview('pod-create'))).json<AdmissionReviewOut>();
    const dry = (await post(loadReview('pod-dry-run'))).json<AdmissionReviewOut>();
    expect(decodePatch(dry)).toEqual(decodePatch(real));
  });

  it('allows other kinds untouched', async () => {
    const out = (await post(loadReview('deployment-create'))).json<AdmissionReviewOut>();
    expect(out.response).toEqual({ uid: loadReview('deployment-create').request.uid, allowed: true });
  });

  it('allows an opted-out pod without a patch', async () => {
    const out = (await post(loadReview('pod-opted-out'))).json<AdmissionReviewOut>();
    expect(out.response.allowed).toBe(true);
    expect(out.response.patch).toBeUndefined();
  });

  it('warns the client when a hostNetwork pod is skipped', async () => {
    const out = (await post(loadReview('pod-host-network'))).json<AdmissionReviewOut>();
    expect(out.response.warnings).toEqual(['lanyard: pods on the host network are never injected']);
    const pod = applyPatch(loadReview('pod-host-network').request.object, decodePatch(out));
    expect(pod.spec?.initContainers).toBeUndefined();
  });

  it.each([
    ['no request', loadReview('malformed-no-request'), /no request/],
    ['v1beta1', loadReview('malformed-v1beta1'), /admission\.k8s\.io\/v1/],
    ['an array', [1, 2], /not a JSON object/],
    [
      'a pod without a spec',
      { ...loadReview('pod-create'), request: { ...loadReview('pod-create').request, object: {} } },
      /spec/,
    ],
  ])('answers 400 to a malformed review (%s)', async (_name, body, message) => {
    const reply = await post(body);
    expect(reply.statusCode).toBe(400);
    expect(reply.json<{ error: string }>().error).toMatch(message);
  });

  it('answers 400 to an empty body and to JSON that does not parse', async () => {
    const empty = await app.inject({
      method: 'POST',
      url: '/inject',
      headers: { 'content-type': 'application/json' },
      payload: '',
    });
    expect(empty.statusCode).toBe(400);
    const broken = await app.inject({
      method: 'POST',
      url: '/inject',
      headers: { 'content-type': 'application/json' },
      payload: '{"apiVersion":',
    });
    expect(broken.statusCode).toBe(400);
  });

  it('refuses a body over the limit with 413', async () => {
    const review = loadReview('pod-create');
    review.request.object.metadata!.annotations!['padding'] = 'x'.repeat(100 * 1024);
    const reply = await post(review);
    expect(reply.statusCode).toBe(413);
  });

  it('refuses an invalid configuration when built', () => {
    expect(() => buildInjectionWebhook({ options: { ...options, image: '' } })).toThrow(TypeError);
  });
});

describe('injection webhook over TLS', () => {
  async function servedCertificate(port: number, ca: string): Promise<X509Certificate> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
        const raw = socket.getPeerCertificate().raw;
        socket.end();
        resolve(new X509Certificate(raw));
      });
      socket.on('error', reject);
    });
  }

  it('serves the configured certificate, and a new one after updateTls', async () => {
    const ca = await createTestCa();
    const first = await ca.issue({ subject: 'CN=first', dnsNames: ['localhost'], usage: 'server' });
    const second = await ca.issue({ subject: 'CN=second', dnsNames: ['localhost'], usage: 'server' });
    const webhook = await startInjectionWebhook({ port: 0, host: '127.0.0.1', tls: first, options });
    try {
      expect((await servedCertificate(webhook.port, ca.certPem)).subject).toBe('CN=first');
      webhook.updateTls(second);
      expect((await servedCertificate(webhook.port, ca.certPem)).subject).toBe('CN=second');
    } finally {
      await webhook.close();
    }
  });
});
