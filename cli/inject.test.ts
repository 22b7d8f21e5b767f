import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1CronJob, V1Deployment, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { injectPod } from '../controller/inject/injector.ts';
import { MAX_DOCUMENT_BYTES, applyJsonPatch, runInject } from './inject.ts';

const scratch = mkdtempSync(join(tmpdir(), 'lanyard-inject-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function inject(manifest: string, ...flags: string[]) {
  let out = '';
  let err = '';
  const code = await runInject(
    ['-f', '-', ...flags],
    { out: (t) => (out += t), err: (t) => (err += t) },
    {
      // eslint-disable-next-line @typescript-eslint/require-await
      readStdin: async function* () {
        yield Buffer.from(manifest);
      },
    },
  );
  const documents = code === 0 ? parseAllDocuments(out) : [];
  const objects = (Array.isArray(documents) ? documents : []).map((d) => d.toJS() as unknown);
  return { code, out, err, objects };
}

const appContainer =
  ' [{name: app, image: "registry.example/app:1", ports: [{containerPort: 8080}], readinessProbe: {httpGet: {path: /ready, port: 8080}}}]';

const workloads = `apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      serviceAccountName: orders
      containers:${appContainer}
---
# a Service: passes through as it was, comment and all
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec: {ports: [{port: 8080}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:${appContainer}
---
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  containers:${appContainer}
`;

const asPod = (o: unknown) => o as V1Pod;
const items = (o: unknown) => (o as { items: V1Pod[] }).items;
const sidecarOf = (o: unknown) => asPod(o).spec!.initContainers![1]!;

function names(spec: V1PodSpec | undefined): string[] {
  return (spec?.initContainers ?? []).map((c: V1Container) => c.name);
}

describe('lanyard inject -f', () => {
  it('injects Pods and pod templates and passes other kinds through unchanged', async () => {
    const { code, out, objects, err } = await inject(workloads);
    expect(code).toBe(0);
    expect(objects.map((o) => (o as { kind: string }).kind)).toEqual([
      'Deployment',
      'Service',
      'CronJob',
      'Pod',
    ]);
    expect(names((objects[0] as V1Deployment).spec!.template.spec)).toEqual([
      'lanyard-init',
      'lanyard-sidecar',
    ]);
    expect(names((objects[2] as V1CronJob).spec!.jobTemplate.spec!.template.spec)).toEqual([
      'lanyard-init',
      'lanyard-sidecar',
    ]);
    expect(names(asPod(objects[3]).spec)).toEqual(['lanyard-init', 'lanyard-sidecar']);
    expect(objects[1]).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'orders', namespace: 'shop' },
      spec: { ports: [{ port: 8080 }] },
    });
    expect(out).toContain('# a Service: passes through as it was, comment and all');
    expect(err).toContain('document 1: Deployment/orders: Lanyard sidecar injected');
    expect((objects[0] as V1Deployment).spec!.template.metadata!.annotations!['lanyard.dev/injected']).toBe(
      'true',
    );
  });

  it('applies exactly the patch the webhook computes', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'solo' },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'registry.example/app:1',
            ports: [{ containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
          },
        ],
      },
    };
    const { objects } = await inject(JSON.stringify(pod), '--image=registry.example/lanyard:1');
    const options = {
      image: 'registry.example/lanyard:1',
      controlPlaneAddress: 'lanyard-controller.lanyard-system.svc:15012',
      trustDomain: 'cluster.local',
    };
    expect(objects).toEqual([applyJsonPatch(pod, injectPod(pod, options).patch)]);
  });

  it('takes the image, control plane and trust domain from flags', async () => {
    const { objects } = await inject(
      workloads,
      '--image=registry.example/lanyard:dev',
      '--control-plane=cp.example:443',
      '--trust-domain=prod.example',
      '--control-plane-id=spiffe://prod.example/ns/mesh/sa/cp',
    );
    const sidecar = sidecarOf(objects[3]);
    expect(sidecar.image).toBe('registry.example/lanyard:dev');
    const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      LANYARD_CONTROL_PLANE: 'cp.example:443',
      LANYARD_TRUST_DOMAIN: 'prod.example',
      LANYARD_CONTROL_PLANE_ID: 'spiffe://prod.example/ns/mesh/sa/cp',
    });
  });

  it('uses the webhook defaults', async () => {
    const sidecar = sidecarOf((await inject(workloads)).objects[3]);
    expect(sidecar.image).toMatch(/^ghcr\.io\/lanyard\/lanyard:\d+\.\d+\.\d+/);
    expect(sidecar.env).toContainEqual({
      name: 'LANYARD_CONTROL_PLANE',
      value: 'lanyard-controller.lanyard-system.svc:15012',
    });
  });

  it('injects the items of a List, skips an opted-out pod, and is idempotent', async () => {
    const list = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'a' },
          spec: { containers: [{ name: 'app', image: 'x' }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'b', labels: { 'lanyard.dev/inject': 'disabled' } },
          spec: { containers: [{ name: 'app', image: 'x' }] },
        },
      ],
    });
    const once = await inject(list);
    expect(once.code).toBe(0);
    expect(names(items(once.objects[0])[0]!.spec)).toEqual(['lanyard-init', 'lanyard-sidecar']);
    expect(items(once.objects[0])[1]!.spec!.initContainers).toBeUndefined();
    expect(once.err).toContain('document 1 item 2: Pod/b: the pod is labelled lanyard.dev/inject=disabled');
    const twice = await inject(once.out);
    expect(twice.objects).toEqual(once.objects);
  });

  it('reads a file', async () => {
    const file = join(scratch, 'pod.yaml');
    writeFileSync(file, workloads);
    let out = '';
    const code = await runInject(['-f', file], { out: (t) => (out += t), err: () => undefined });
    expect(code).toBe(0);
    expect(out).toContain('lanyard-sidecar');
  });

  it('refuses a manifest that is not YAML, with exit 2 and nothing printed', async () => {
    for (const bad of [
      'kind: Pod\n  metadata: [unclosed',
      'just a string',
      '- a\n- list',
      '{"kind": "Pod",',
    ]) {
      const { code, out, err } = await inject(bad);
      expect(code).toBe(2);
      expect(out).toBe('');
      expect(err).toMatch(/^lanyard inject: document 1 is not (YAML|a Kubernetes object)/);
    }
  });

  it('refuses a document over the size bound', async () => {
    const big = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {blob: "${'a'.repeat(MAX_DOCUMENT_BYTES)}"}\n`;
    const { code, out, err } = await inject(`kind: Service\n---\n${big}`);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('document 2 is larger than 1048576 bytes');
  });

  it('refuses bad flags and a missing file with exit 2', async () => {
    expect((await inject(workloads, '--control-plane=no-port')).code).toBe(2);
    expect((await inject(workloads, '--trust-domain=Bad Domain')).code).toBe(2);
    expect((await inject(workloads, '--control-plane-id=https://x')).code).toBe(2);
    expect((await inject(workloads, '--frobnicate')).code).toBe(2);
    let err = '';
    const missing = await runInject(['-f', join(scratch, 'nope.yaml')], {
      out: () => undefined,
      err: (t) => (err += t),
    });
    expect(missing).toBe(2);
    expect(err).toContain('ENOENT');
    expect(await runInject([], { out: () => undefined, err: () => undefined })).toBe(2);
  });
});
