// The sidecar's block client against a real gRPC server over mTLS that sends what the test
// says: bad snapshots are kept out, the last good one stays in force while the stream is down,
// and the client reconnects (after a loss, and when told to after an SVID rotation).
import { status, type Server, type ServerWritableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backoff } from '../lib/backoff.ts';
import { systemClock } from '../lib/clock.ts';
import { startTlsGrpcServer } from '../test/helpers/grpc-server.ts';
import { eventually } from '../test/helpers/eventually.ts';
import { createTestCa, type TestCa } from '../test/helpers/pki.ts';
import { loadBlocksProto, type BlockSnapshotMessage } from '../proto/load-blocks.ts';
import { BlockClient, type SnapshotOutcome } from './block-client.ts';
import { BlockSet } from './block-set.ts';
import type { TlsMaterial } from './listener.ts';

const SERVER_ID = 'spiffe://cluster.local/ns/lanyard-system/sa/lanyard-controller';
const EVIL = 'spiffe://cluster.local/ns/shop/sa/evil';
type Call = ServerWritableStream<unknown, BlockSnapshotMessage>;
let ca: TestCa;
let server: Server;
let address: string;
let material: TlsMaterial;
const calls: Call[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  const serving = await ca.issue({ subject: 'CN=cp', uris: [SERVER_ID], usage: 'both' });
  const web = await ca.issue({
    subject: 'CN=w',
    uris: ['spiffe://cluster.local/ns/shop/sa/web'],
    usage: 'both',
  });
  material = { certChainPem: web.certPem, keyPem: web.keyPem, bundlePem: ca.certPem };
  ({ server, address } = await startTlsGrpcServer(
    {
      definition: loadBlocksProto().BlockService.service,
      implementation: { Watch: (call: Call) => void calls.push(call) },
    },
    ca.certPem,
    serving,
  ));
});

afterAll(() => server?.forceShutdown());

function snapshot(version: string, blocks: BlockSnapshotMessage['blocks'] = []): BlockSnapshotMessage {
  return { version, blocks, sentUnixMs: Date.now() };
}

const principalBlock = (id: string, ttlMs = 3600_000) => ({
  id,
  type: 1 as const,
  value: EVIL,
  expiresUnixMs: Date.now() + ttlMs,
});

function client() {
  const blocks = new BlockSet(systemClock);
  const outcomes: SnapshotOutcome[] = [];
  const blockClient = new BlockClient({
    address,
    serverId: SERVER_ID,
    trustDomain: 'cluster.local',
    tls: () => material,
    blocks,
    onSnapshot: (outcome) => outcomes.push(outcome),
    backoff: new Backoff(20, 100),
  });
  return { blocks, outcomes, blockClient };
}

describe('BlockClient', () => {
  it('enforces a good snapshot, refuses a bad one and keeps the previous one', async () => {
    const { blocks, outcomes, blockClient } = client();
    const before = calls.length;
    blockClient.start();
    try {
      await eventually(() => calls.length > before, 'the client connected', 20_000);
      const call = calls[calls.length - 1]!;
      call.write(snapshot('v1', [principalBlock('b1')]));
      await eventually(() => blocks.version === 'v1', 'v1 in force', 20_000);
      expect(blocks.match('principal', EVIL)?.id).toBe('b1');
      expect(blockClient.connected).toBe(true);

      // An unknown type, then a token id that is a token: each refused whole.
      call.write(
        snapshot('v2', [
          principalBlock('b1'),
          { id: 'b2', type: 7 as never, value: 'x', expiresUnixMs: Date.now() + 1000 },
        ]),
      );
      call.write(
        snapshot('v3', [
          {
            id: 'b3',
            type: 3,
            value: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln',
            expiresUnixMs: Date.now() + 1000,
          },
        ]),
      );
      await eventually(() => outcomes.length === 3, 'both bad snapshots seen', 20_000);
      expect(outcomes.slice(1)).toEqual([
        { accepted: false, fault: 'type' },
        { accepted: false, fault: 'value' },
      ]);
      expect(blocks.version).toBe('v1');
      expect(blocks.match('principal', EVIL)?.id).toBe('b1');
      expect(blockClient.stats).toMatchObject({ accepted: 1, refused: 2 });

      call.write(snapshot('v4', []));
      await eventually(() => blocks.version === 'v4', 'v4 in force', 20_000);
      expect(blocks.match('principal', EVIL)).toBeUndefined();
    } finally {
      blockClient.stop();
    }
  });

  it('keeps the last snapshot while the stream is down, and reconnects with backoff', async () => {
    const { blocks, blockClient } = client();
    const before = calls.length;
    blockClient.start();
    try {
      await eventually(() => calls.length > before, 'the client connected', 20_000);
      calls[calls.length - 1]!.write(snapshot('v1', [principalBlock('b1')]));
      await eventually(() => blocks.version === 'v1', 'v1 in force', 20_000);

      const connected = calls.length;
      calls[calls.length - 1]!.emit('error', {
        code: status.UNAVAILABLE,
        details: 'control plane restarting',
      });
      await eventually(() => !blockClient.connected, 'the loss noticed', 20_000);
      // Fail closed on what is known: the block stays in force while the stream is down.
      expect(blocks.match('principal', EVIL)?.id).toBe('b1');

      await eventually(() => calls.length > connected, 'the client reconnected', 20_000);
      calls[calls.length - 1]!.write(snapshot('v2', []));
      await eventually(() => blocks.version === 'v2', 'the new snapshot in force', 20_000);
      expect(blockClient.connected).toBe(true);
      expect(blockClient.stats.connects).toBeGreaterThanOrEqual(2);
    } finally {
      blockClient.stop();
    }
  });

  it('opens a new stream when told to reconnect (an SVID rotation), and none after stop', async () => {
    const { blocks, blockClient } = client();
    const before = calls.length;
    blockClient.start();
    try {
      await eventually(() => calls.length > before, 'the client connected', 20_000);
      const first = calls[calls.length - 1]!;
      first.write(snapshot('v1'));
      await eventually(() => blocks.version === 'v1', 'v1 in force', 20_000);
      blockClient.reconnect();
      await eventually(() => first.cancelled, 'the old stream cancelled', 20_000);
      await eventually(() => calls.length > before + 1, 'a new stream opened', 20_000);
      blockClient.stop();
      const after = calls.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(calls.length).toBe(after);
    } finally {
      blockClient.stop();
    }
  });
});
