// Blocks shared by control-plane replicas through AuthBlock objects, on the real API server: two
// monitor hosts (two "replicas") on one namespace, each mirroring the objects into its own
// BlockList. Also the CRD through kubectl, and `kubectl lanyard blocks` as real processes.
import { execFile } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AUTHBLOCK, blockName, type AuthBlockObject } from '../../controller/monitor/block-object.ts';
import type { BlockTarget } from '../../controller/monitor/blocks.ts';
import type { Detection } from '../../controller/monitor/detectors.ts';
import { createMonitorHost, type MonitorHost } from '../../controller/monitor/host.ts';
import { apiStatus } from '../../kube/api-errors.ts';
import { systemClock } from '../../lib/clock.ts';
import { silentLogger } from '../../lib/logger.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, uniqueName } from '../helpers/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const namespace = uniqueName('blocks');
const { group, version, plural } = AUTHBLOCK;

interface Replica {
  host: MonitorHost;
  registry: Registry;
  leader: { value: boolean };
}
const replicas: Replica[] = [];

function startReplica(leader: boolean): Replica {
  const registry = new Registry();
  const state = { value: leader };
  const host = createMonitorHost({
    trustDomain: 'cluster.local',
    signers: () => [],
    registry,
    clock: systemClock,
    log: silentLogger,
    kube: {
      kubeConfig: kc,
      namespace,
      leaseName: 'lanyard-controller',
      isLeader: () => state.value,
      blockCollectIntervalMs: 200,
    },
    autoBlock: { ttlMs: 60_000, kinds: ['denial-spike'] },
  });
  const replica = { host, registry, leader: state };
  replicas.push(replica);
  return replica;
}

async function stopReplica(replica: Replica): Promise<void> {
  replicas.splice(replicas.indexOf(replica), 1);
  await replica.host.close();
}

async function readObject(name: string): Promise<AuthBlockObject | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({
      group,
      version,
      plural,
      namespace,
      name,
    })) as AuthBlockObject;
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw error;
  }
}

async function ignoredInvalid(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('lanyard_monitor_block_objects_ignored_total')?.get();
  return metric?.values.find((v) => v.labels.reason === 'invalid')?.value ?? 0;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `kubectl lanyard blocks ...` with bin/ on PATH, as a user with the plugin installed runs it. */
function plugin(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      join(inject('clusterBinDir'), 'kubectl'),
      ['lanyard', 'blocks', ...args, '-n', namespace],
      {
        timeout: 120_000,
        env: {
          ...process.env,
          PATH: `${root}bin${delimiter}${process.env.PATH ?? ''}`,
          KUBECONFIG: inject('kubeconfig'),
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function spike(target: BlockTarget): Detection {
  return {
    kind: 'denial-spike',
    subject: target,
    windowMs: 60_000,
    threshold: 20,
    count: 20,
    firstMs: Date.now() - 10_000,
    lastMs: Date.now(),
  };
}

let a: Replica;
let b: Replica;

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', `${root}crds/authblock.yaml`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authblocks.lanyard.dev']);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  a = startReplica(true);
  b = startReplica(false);
  await Promise.all([a.host.blockStore!.synced, b.host.blockStore!.synced]);
}, 120_000);

afterAll(async () => {
  for (const replica of [...replicas]) await stopReplica(replica);
  await core.deleteNamespace({ name: namespace });
});

describe('blocks shared by replicas through AuthBlocks', () => {
  it('puts a detection on replica A into its own list at once and into B’s through the object', async () => {
    const target: BlockTarget = { type: 'principal', value: 'spiffe://cluster.local/ns/shop/sa/scraper' };
    const response = a.host.responder.respond(spike(target));
    const id = blockName(target);
    expect(response.block).toMatchObject({ id, ...target, by: 'detector', reason: 'denial-spike' });
    // Immediately local: the push from A does not wait for the watch.
    expect(a.host.blocks.get(id)).toEqual(response.block);
    const mirrored = await eventually(() => b.host.blocks.get(id), 'the block in replica B');
    expect(mirrored).toMatchObject({ id, ...target, by: 'detector', reason: 'denial-spike' });
    expect(mirrored.expiresMs).toBe(response.block!.expiresMs);
    const object = await readObject(id);
    expect(object?.spec).toMatchObject({ ...target, by: 'detector', reason: 'denial-spike' });
    expect(Date.parse(object!.spec.expiresAt)).toBe(response.block!.expiresMs);
    expect(b.host.blocks.snapshot().version).toBe(a.host.blocks.snapshot().version);
  });

  it('extends a block to the later expiry, and converges when both replicas write at once', async () => {
    const target: BlockTarget = { type: 'user', value: 'mallory' };
    const id = blockName(target);
    const first = b.host.blockStore!.add(target, 60_000, 'denial-spike', 'detector');
    await eventually(() => a.host.blocks.get(id), 'the block in replica A');
    const longer = a.host.blockStore!.add(target, 600_000, 'denial-spike', 'detector');
    expect(longer.expiresMs).toBeGreaterThan(first.expiresMs);
    await eventually(
      () => b.host.blocks.get(id)?.expiresMs === longer.expiresMs,
      'replica B to see the extension',
    );
    // A shorter TTL never shortens a block.
    b.host.blockStore!.add(target, 5_000, 'denial-spike', 'detector');
    await b.host.blockStore!.idle();
    expect(Date.parse((await readObject(id))!.spec.expiresAt)).toBe(longer.expiresMs);

    // Both at once, on a new target: one object, the later expiry, the same list everywhere.
    const raced: BlockTarget = { type: 'token', value: 'jti-raced-1' };
    const fromA = a.host.blockStore!.add(raced, 120_000, 'token-spread', 'detector');
    const fromB = b.host.blockStore!.add(raced, 240_000, 'token-spread', 'detector');
    await Promise.all([a.host.blockStore!.idle(), b.host.blockStore!.idle()]);
    const latest = Math.max(fromA.expiresMs, fromB.expiresMs);
    expect(Date.parse((await readObject(blockName(raced)))!.spec.expiresAt)).toBe(latest);
    await eventually(
      () =>
        a.host.blocks.get(blockName(raced))?.expiresMs === latest &&
        b.host.blocks.get(blockName(raced))?.expiresMs === latest,
      'both replicas at the later expiry',
    );
    const writes = await a.registry.getSingleMetric('lanyard_monitor_block_writes_total')?.get();
    expect(writes?.values.find((v) => v.labels.result === 'failed')?.value).toBe(0);
  });

  it('lifts a block from both replicas when its object is deleted', async () => {
    const target: BlockTarget = { type: 'user', value: 'lift-by-delete' };
    const id = blockName(target);
    a.host.blockStore!.add(target, 60_000, 'denial-spike', 'detector');
    await eventually(() => b.host.blocks.get(id), 'the block in replica B');
    await kubectl(['delete', 'authblock', id, '-n', namespace]);
    await eventually(
      () => !a.host.blocks.get(id) && !b.host.blocks.get(id),
      'the block gone from both replicas',
    );
  });

  it('keeps the blocks across a replica restart', async () => {
    const target: BlockTarget = { type: 'user', value: 'survives-restart' };
    const id = blockName(target);
    const block = a.host.blockStore!.add(target, 60_000, 'denial-spike', 'detector');
    await eventually(() => b.host.blocks.get(id), 'the block in replica B');
    await stopReplica(b);
    b = startReplica(false);
    await b.host.blockStore!.synced;
    expect(b.host.blocks.get(id)?.expiresMs).toBe(block.expiresMs);
  });

  it('drops an expired block on every replica at expiry; only the leader deletes its object', async () => {
    const target: BlockTarget = { type: 'token', value: 'jti-expires-soon' };
    const id = blockName(target);
    a.leader.value = false;
    try {
      a.host.blockStore!.add(target, 2_000, 'token-spread', 'detector');
      await eventually(() => b.host.blocks.get(id), 'the block in replica B');
      await eventually(
        () =>
          !a.host.blocks.list().some((x) => x.id === id) && !b.host.blocks.list().some((x) => x.id === id),
        'the block expired on both replicas',
      );
      // No leader: five collection rounds later the object is still there.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await readObject(id)).toBeDefined();
    } finally {
      a.leader.value = true;
    }
    await eventually(async () => (await readObject(id)) === undefined, 'the leader to delete the object');
    const deleted = await a.registry.getSingleMetric('lanyard_monitor_block_objects_deleted_total')?.get();
    expect(deleted?.values[0]?.value).toBeGreaterThanOrEqual(1);
  });

  it('ignores invalid objects with a metric, and keeps mirroring valid ones', async () => {
    const before = await ignoredInvalid(b.registry);
    const expires = new Date(Date.now() + 60_000).toISOString();
    const invalid: { name: string; spec: Record<string, string> }[] = [
      // The API server's schema admits these; the controller's own checks do not.
      {
        name: blockName({ type: 'principal', value: 'spiffe://cluster.local/ns/a//sa/b' }),
        spec: {
          type: 'principal',
          value: 'spiffe://cluster.local/ns/a//sa/b',
          expiresAt: expires,
          by: 'operator',
        },
      },
      { name: 'handmade', spec: { type: 'user', value: 'eve', expiresAt: expires, by: 'operator' } },
      {
        name: blockName({ type: 'user', value: 'for-a-month' }),
        spec: {
          type: 'user',
          value: 'for-a-month',
          expiresAt: new Date(Date.now() + 30 * 24 * 3600_000).toISOString(),
          by: 'operator',
        },
      },
    ];
    for (const { name, spec } of invalid) {
      await custom.createNamespacedCustomObject({
        group,
        version,
        plural,
        namespace,
        body: { apiVersion: `${group}/${version}`, kind: 'AuthBlock', metadata: { name }, spec },
      });
    }
    const valid: BlockTarget = { type: 'user', value: 'after-the-invalid-ones' };
    a.host.blockStore!.add(valid, 60_000, 'denial-spike', 'detector');
    await eventually(() => b.host.blocks.get(blockName(valid)), 'a valid block after invalid objects');
    await eventually(
      async () => (await ignoredInvalid(b.registry)) >= before + invalid.length,
      'the invalid objects counted',
    );
    const ids = new Set(b.host.blocks.list().map((x) => x.id));
    for (const { name } of invalid) expect(ids.has(name)).toBe(false);
    expect(a.host.blocks.list().some((x) => invalid.some((i) => i.name === x.id))).toBe(false);
    for (const { name } of invalid) await kubectl(['delete', 'authblock', name, '-n', namespace]);
  });
});

describe('the AuthBlock CRD through kubectl', () => {
  it('shows printer columns, explains its fields and refuses what its schema forbids', async () => {
    const target: BlockTarget = { type: 'user', value: 'shown-by-kubectl' };
    a.host.blockStore!.add(target, 60_000, 'denial-spike', 'detector');
    await a.host.blockStore!.idle();
    const table = await kubectl(['get', 'authblocks', '-n', namespace]);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+TARGET\s+EXPIRES\s+REASON\s+BY\s+AGE$/);
    expect(table).toMatch(
      new RegExp(`${blockName(target)}\\s+user\\s+shown-by-kubectl\\s+\\S+Z\\s+denial-spike\\s+detector`),
    );

    expect(await kubectl(['explain', 'authblock.spec.type'])).toMatch(/principal.*user.*token/s);
    expect(await kubectl(['explain', 'authblock'])).toMatch(/temporary deny/);

    const refused = (spec: Record<string, string>, name = 'refused') =>
      kubectl(
        ['apply', '-n', namespace, '-f', '-'],
        JSON.stringify({ apiVersion: `${group}/${version}`, kind: 'AuthBlock', metadata: { name }, spec }),
      ).then(
        () => 'accepted',
        (error: Error) => error.message,
      );
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    expect(await refused({ type: 'principal', value: 'not-spiffe', expiresAt, by: 'operator' })).toMatch(
      /a principal is a SPIFFE ID/,
    );
    expect(await refused({ type: 'source', value: '192.0.2.1', expiresAt, by: 'operator' })).toMatch(
      /Unsupported value: "source"/,
    );
    expect(await refused({ type: 'user', value: 'x', expiresAt: 'tomorrow', by: 'operator' })).toMatch(
      /expiresAt/,
    );
    expect(await refused({ type: 'user', value: 'a\u0007b', expiresAt, by: 'operator' })).toMatch(
      /control characters/,
    );
    const name = blockName(target);
    expect(
      await kubectl([
        'patch',
        'authblock',
        name,
        '-n',
        namespace,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { value: 'other' } }),
      ]).then(
        () => 'accepted',
        (error: Error) => error.message,
      ),
    ).toMatch(/type and value are immutable/);
  });
});

describe('kubectl lanyard blocks', () => {
  it('adds, lists and lifts blocks as real processes, seen by both replicas', async () => {
    const added = await plugin(['add', '--user', 'carol', '--ttl', '10m', '--reason', 'phished account']);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const id = blockName({ type: 'user', value: 'carol' });
    expect(added.stdout).toMatch(new RegExp(`^blocked user carol until \\S+Z \\(id ${id}\\)\\n$`));
    for (const replica of [a, b]) {
      const block = await eventually(() => replica.host.blocks.get(id), 'the operator block in a replica');
      expect(block).toMatchObject({
        type: 'user',
        value: 'carol',
        by: 'operator',
        reason: 'phished account',
      });
    }

    const again = await plugin(['add', '--user', 'carol', '--ttl', '20m', '-o', 'json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      outcome: 'extended',
      block: { id, reason: 'phished account' },
    });

    const listed = await plugin(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+TYPE\s+TARGET\s+EXPIRES\s+BY\s+REASON$/);
    expect(listed.stdout).toMatch(
      new RegExp(`${id}\\s+user\\s+carol\\s+in 20m .*operator\\s+phished account`),
    );
    const json = JSON.parse((await plugin(['list', '-o', 'json'])).stdout) as { blocks: { id: string }[] };
    expect(json.blocks.map((x) => x.id)).toContain(id);

    const lifted = await plugin(['lift', id]);
    expect(lifted.code).toBe(0);
    expect(lifted.stdout).toBe(`lifted ${id} (user carol)\n`);
    await eventually(
      () => !a.host.blocks.get(id) && !b.host.blocks.get(id),
      'the lifted block gone from both replicas',
    );

    const unknown = await plugin(['lift', id]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no block has the id/);
  });

  it('exits 2 with a clear message when the kubeconfig is missing', async () => {
    const down = await new Promise<Run>((resolve) => {
      execFile(
        join(inject('clusterBinDir'), 'kubectl'),
        ['lanyard', 'blocks', 'list', '--kubeconfig', '/nonexistent/kubeconfig'],
        { timeout: 60_000, env: { ...process.env, PATH: `${root}bin${delimiter}${process.env.PATH ?? ''}` } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/kubeconfig \/nonexistent\/kubeconfig not found/);
  });
});
