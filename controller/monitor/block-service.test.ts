// The BlockService over real gRPC and TLS: callers authenticated by SVID, the snapshot at
// connect, changes pushed and coalesced; and with a stalled stream, one snapshot in flight.
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { credentials, status, type Server } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTlsGrpcServer } from '../../test/helpers/grpc-server.ts';
import { eventually } from '../../test/helpers/eventually.ts';
import { createTestCa, type PemPair, type TestCa } from '../../test/helpers/pki.ts';
import { loadBlocksProto, type BlockSnapshotReceived } from '../../proto/load-blocks.ts';
import { BlockService } from './block-service.ts';
import { BlockList } from './blocks.ts';

const id = (ns: string, sa: string) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
let ca: TestCa;
let server: Server;
let address: string;
let service: BlockService;
let blocks: BlockList;
let web: PemPair;
let notWorkload: PemPair;
let stranger: PemPair;
let strangerCa: TestCa;

beforeAll(async () => {
  ca = await createTestCa();
  strangerCa = await createTestCa();
  const serving = await ca.issue({
    subject: 'CN=cp',
    uris: [id('lanyard-system', 'lanyard-controller')],
    usage: 'both',
  });
  web = await ca.issue({ subject: 'CN=w', uris: [id('shop', 'web')], usage: 'both' });
  notWorkload = await ca.issue({ subject: 'CN=n', uris: ['spiffe://cluster.local/tools/x'], usage: 'both' });
  stranger = await strangerCa.issue({ subject: 'CN=s', uris: [id('shop', 'web')], usage: 'both' });
  blocks = new BlockList({ clock: { now: () => Date.now() } });
  service = new BlockService({
    trustDomain: 'cluster.local',
    signers: () => [new X509Certificate(ca.certPem)],
    source: blocks,
  });
  ({ server, address } = await startTlsGrpcServer(
    { definition: service.definition, implementation: service.implementation() },
    ca.certPem,
    serving,
  ));
});

afterAll(() => {
  service?.close();
  server?.forceShutdown();
});

function watch(identity: PemPair | undefined, roots = ca.certPem) {
  const creds = credentials.createSsl(
    Buffer.from(roots),
    identity ? Buffer.from(identity.keyPem) : null,
    identity ? Buffer.from(identity.certPem) : null,
    { checkServerIdentity: () => undefined },
  );
  const client = new (loadBlocksProto().BlockService)(address, creds, {
    'grpc.ssl_target_name_override': 'lanyard-control-plane',
  });
  const call = client.Watch({});
  const received: BlockSnapshotReceived[] = [];
  call.on('data', (message: BlockSnapshotReceived) => received.push(message));
  const done = new Promise<{ code: number } | undefined>((resolve) => {
    call.on('error', (error: { code: number }) => resolve({ code: error.code }));
    call.on('end', () => resolve(undefined));
  });
  return {
    received,
    done,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

describe('BlockService', () => {
  it.each([
    ['no client certificate', () => undefined],
    ['a certificate from another CA', () => stranger],
    ['an identity that is not a workload', () => notWorkload],
  ])('refuses a caller with %s: UNAUTHENTICATED', async (_name, identity) => {
    const stream = watch(identity());
    expect(await stream.done).toEqual({ code: status.UNAUTHENTICATED });
    expect(stream.received).toEqual([]);
    stream.close();
  });

  it('sends the current list at connect, then each change, coalescing a burst into one snapshot', async () => {
    const first = blocks.add({ type: 'principal', value: id('shop', 'evil') }, 60_000, 'test', 'operator');
    const stream = watch(web);
    try {
      await eventually(() => stream.received.length === 1, 'the snapshot at connect', 20_000);
      const atConnect = stream.received[0]!;
      expect(atConnect.version).toBe(blocks.snapshot().version);
      expect(atConnect.blocks).toEqual([
        { id: first.id, type: 1, value: id('shop', 'evil'), expiresUnixMs: first.expiresMs },
      ]);
      expect(Math.abs(atConnect.sentUnixMs - Date.now())).toBeLessThan(60_000);

      const builtBefore = service.stats.built;
      // One burst, one tick: twenty changes.
      for (let i = 0; i < 10; i += 1) {
        blocks.add({ type: 'user', value: `user-${i}` }, 60_000, 'test', 'detector');
        blocks.add({ type: 'token', value: `jti-${i}` }, 60_000, 'test', 'detector');
      }
      await eventually(() => stream.received.length >= 2, 'the change pushed', 20_000);
      const pushed = stream.received[1]!;
      expect(pushed.blocks).toHaveLength(21);
      expect(pushed.version).toBe(blocks.snapshot().version);
      expect(
        pushed.blocks
          .filter((b) => b.type === 2)
          .map((b) => b.value)
          .sort(),
      ).toEqual(Array.from({ length: 10 }, (_, i) => `user-${i}`).sort());
      expect(service.stats.built - builtBefore).toBe(1);

      blocks.lift(first.id);
      await eventually(() => stream.received.length >= 3, 'the lift pushed', 20_000);
      expect(stream.received[2]!.blocks.map((b) => b.id)).not.toContain(first.id);
      expect(stream.received).toHaveLength(3);
    } finally {
      stream.close();
      for (const block of blocks.list()) blocks.lift(block.id);
    }
  });
});

/** A server stream whose writes complete only when the test says so. */
class StalledCall extends EventEmitter {
  readonly writes: { version: string; blocks: number }[] = [];
  private pending: (() => void)[] = [];
  constructor(private readonly cert: Buffer) {
    super();
  }
  getAuthContext() {
    return { sslPeerCertificate: { raw: this.cert } };
  }
  write(message: { version: string; blocks: unknown[] }, done: () => void) {
    this.writes.push({ version: message.version, blocks: message.blocks.length });
    this.pending.push(done);
    return false;
  }
  complete() {
    const pending = this.pending;
    this.pending = [];
    for (const done of pending) done();
  }
}

describe('BlockService with a stream that does not drain', () => {
  it('keeps one snapshot in flight and sends only the latest when the write completes', async () => {
    const list = new BlockList({ clock: { now: () => Date.now() } });
    const local = new BlockService({
      trustDomain: 'cluster.local',
      signers: () => [new X509Certificate(ca.certPem)],
      source: list,
      coalesceMs: 1,
    });
    try {
      const call = new StalledCall(new X509Certificate(web.certPem).raw);
      (local.implementation().Watch as (call: unknown) => void)(call);
      expect(call.writes).toHaveLength(1);
      for (let i = 0; i < 5; i += 1) {
        list.add({ type: 'user', value: `u${i}` }, 60_000, 'test', 'operator');
        // Each change in its own coalescing window: five publishes while the stream is stuck.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(call.writes).toHaveLength(1);
      call.complete();
      expect(call.writes).toHaveLength(2);
      expect(call.writes[1]).toEqual({ version: list.snapshot().version, blocks: 5 });
      call.complete();
      expect(call.writes).toHaveLength(2);
      expect(local.connected).toBe(1);
      call.emit('cancelled');
      expect(local.connected).toBe(0);
    } finally {
      local.close();
    }
  });
});
