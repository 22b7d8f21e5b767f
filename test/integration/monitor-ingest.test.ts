// The EventService over real gRPC and TLS: callers authenticated by SVID, events attributed to
// the stream, malformed events counted, floods dropped per stream without starving others, and
// a recorded attack replayed through the whole pipeline to a detection and a block.
import { X509Certificate } from 'node:crypto';
import type { Server } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockList } from '../../controller/monitor/blocks.ts';
import { resolveDetectorConfig, type Detection } from '../../controller/monitor/detectors.ts';
import type { MonitorEvent } from '../../controller/monitor/event.ts';
import { EventService } from '../../controller/monitor/ingest.ts';
import { createMonitorMetrics } from '../../controller/monitor/metrics.ts';
import { MonitorPipeline } from '../../controller/monitor/pipeline.ts';
import { Responder } from '../../controller/monitor/responder.ts';
import { eventually } from '../helpers/eventually.ts';
import { openEventStream } from '../helpers/event-client.ts';
import { readRecorded, toReceived } from '../helpers/monitor-replay.ts';
import { createTestCa, type PemPair, type TestCa } from '../helpers/pki.ts';
import { startTlsGrpcServer } from '../helpers/grpc-server.ts';

const id = (ns: string, sa: string) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
let ca: TestCa;
let server: Server;
let address: string;
let service: EventService;
let registry: Registry;
let blocks: BlockList;
const processed: MonitorEvent[] = [];
const detections: Detection[] = [];
let slowReporter: string | undefined;
let orders: PemPair;
let web: PemPair;
let flooder: PemPair;

/** Waits until the assertions in `check` pass; no timing is asserted. */
const settle = (check: () => void, timeoutMs = 20_000) =>
  eventually(
    () => {
      check();
      return true;
    },
    'the expected state',
    timeoutMs,
  );

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

beforeAll(async () => {
  ca = await createTestCa();
  const serving = await ca.issue({
    subject: 'CN=cp',
    uris: [id('lanyard-system', 'lanyard-controller')],
    usage: 'both',
  });
  orders = await ca.issue({ subject: 'CN=w', uris: [id('shop', 'orders')], usage: 'both' });
  web = await ca.issue({ subject: 'CN=w', uris: [id('shop', 'web')], usage: 'both' });
  flooder = await ca.issue({ subject: 'CN=w', uris: [id('shop', 'flooder')], usage: 'both' });
  registry = new Registry();
  blocks = new BlockList({ clock: { now: () => Date.now() } });
  const responder = new Responder({ autoBlock: { blocks, ttlMs: 60_000, kinds: ['denial-spike'] } });
  responder.onResponse((response) => detections.push(response.detection));
  const metrics = createMonitorMetrics(registry, {
    maxLabelValues: 5,
    queued: () => service.queuedEvents,
    streams: () => service.connected,
  });
  const pipeline = new MonitorPipeline({
    detectors: resolveDetectorConfig(),
    responder,
    metrics,
    clock: { now: () => Date.now() },
  });
  service = new EventService({
    trustDomain: 'cluster.local',
    signers: () => [new X509Certificate(ca.certPem)],
    process: (event) => {
      // The flooding sidecar's events are expensive to process: its queue fills.
      if (event.reporter === slowReporter) busyWait(3);
      processed.push(event);
      pipeline.process(event);
    },
    metrics,
    maxStreamQueue: 600,
    quantum: 10,
    perTick: 20,
  });
  ({ server, address } = await startTlsGrpcServer(
    { definition: service.definition, implementation: service.implementation() },
    ca.certPem,
    serving,
  ));
});

afterAll(() => {
  server?.forceShutdown();
});

/** The fixture's events moved so that the last is now: they pass the time bounds. */
function recordedNow(name: string) {
  const recorded = readRecorded(name);
  const shift = Date.now() - recorded[recorded.length - 1]!.event.timeUnixMs;
  return recorded.map(({ event }) => toReceived({ ...event, timeUnixMs: event.timeUnixMs + shift }));
}

const event = (over: Record<string, unknown> = {}) =>
  toReceived({
    timeUnixMs: Date.now(),
    peerId: id('shop', 'web'),
    method: 'GET',
    path: '/orders',
    decision: 'ALLOW',
    reason: 'ALLOWED',
    policy: 'shop/orders',
    sourceAddress: '10.0.0.1',
    latencyMs: 1,
    httpStatus: 200,
    ...over,
  });

describe('EventService', () => {
  it('refuses a caller without a client certificate, or with one from another CA', async () => {
    const anonymous = openEventStream(address, ca.certPem);
    anonymous.call.write({ sequence: 1, events: [event()] });
    expect((await anonymous.done)?.code).toBe(status.UNAUTHENTICATED);
    anonymous.close();

    const other = await createTestCa('other');
    const stranger = openEventStream(
      address,
      ca.certPem,
      await other.issue({ subject: 'CN=x', uris: [id('shop', 'orders')], usage: 'both' }),
    );
    stranger.call.write({ sequence: 1, events: [event()] });
    // Our server does not verify client chains in TLS (bootstrap callers have none); the service does.
    expect((await stranger.done)?.code).toBe(status.UNAUTHENTICATED);
    stranger.close();
  });

  it('attributes every event to the stream SVID, whatever the event claims, and counts malformed events', async () => {
    const before = processed.length;
    const stream = openEventStream(address, ca.certPem, web);
    stream.call.write({
      sequence: 7,
      events: [
        // Claims to be from orders' sidecar and to come from orders: the reporter is still web.
        event({ peerId: id('shop', 'orders'), path: '/claimed' }),
        event({ method: 'not a method' }),
        event({ tokenId: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' }),
        event({ timeUnixMs: Date.now() - 3600_000 }),
        event({ path: '/second' }),
      ],
    });
    await settle(() => expect(stream.acks).toHaveLength(1));
    expect(stream.acks[0]).toEqual({ sequence: 7, accepted: 2, rejected: 3, dropped: 0 });
    await settle(() => expect(processed.length).toBe(before + 2));
    expect(processed.slice(before).map((e) => [e.reporter, e.peer, e.path])).toEqual([
      [id('shop', 'web'), id('shop', 'orders'), '/claimed'],
      [id('shop', 'web'), id('shop', 'web'), '/second'],
    ]);
    const text = await registry.metrics();
    expect(text).toMatch(/lanyard_monitor_events_rejected_total\{field="method"\} 1/);
    expect(text).toMatch(/lanyard_monitor_events_rejected_total\{field="tokenId"\} 1/);
    stream.close();
  });

  it('replays a recorded denial spike through the pipeline to a detection and an automatic block', async () => {
    const stream = openEventStream(address, ca.certPem, orders);
    const events = recordedNow('denial-spike.jsonl');
    for (let i = 0; i < events.length; i += 100)
      stream.call.write({ sequence: i, events: events.slice(i, i + 100) });
    await settle(
      () => expect(detections.map((d) => d.subject.value).sort()).toEqual(['mallory', id('shop', 'scraper')]),
      30_000,
    );
    expect(
      blocks
        .list()
        .map((b) => [b.type, b.value])
        .sort(),
    ).toEqual([
      ['principal', id('shop', 'scraper')],
      ['user', 'mallory'],
    ]);
    const acks = stream.acks.reduce((sum, ack) => sum + ack.accepted, 0);
    expect(acks).toBe(events.length);
    const text = await registry.metrics();
    expect(text).toMatch(/lanyard_monitor_detections_total\{kind="denial-spike"\} 2/);
    // Five distinct policy/source values at most, then "_other": the label set stays bounded.
    const sources = new Set(
      [...text.matchAll(/lanyard_monitor_events_total\{[^}]*source="([^"]+)"/g)].map((m) => m[1]),
    );
    expect(sources.size).toBeLessThanOrEqual(7);
    expect(sources).toContain('_other');
    stream.close();
  });

  it('drops a flooding sidecar’s excess and counts it, while another sidecar’s events all get through', async () => {
    slowReporter = id('shop', 'flooder');
    const flood = openEventStream(address, ca.certPem, flooder);
    const batch = Array.from({ length: 500 }, () =>
      event({ decision: 'DENY', reason: 'NO_ALLOW_MATCH', peerId: '' }),
    );
    for (let i = 0; i < 20; i += 1) flood.call.write({ sequence: i, events: batch });
    await settle(() => expect(flood.acks).toHaveLength(20), 60_000);

    const quiet = openEventStream(address, ca.certPem, orders);
    quiet.call.write({
      sequence: 1,
      events: Array.from({ length: 10 }, (_, i) => event({ path: `/quiet/${i}` })),
    });
    await settle(() => expect(quiet.acks).toHaveLength(1));
    expect(quiet.acks[0]).toMatchObject({ accepted: 10, dropped: 0 });
    // Round robin: the quiet stream's events are processed while the flood's queue still waits.
    await settle(
      () => expect(processed.filter((e) => e.path.startsWith('/quiet/'))).toHaveLength(10),
      30_000,
    );
    const dropped = flood.acks.reduce((sum, ack) => sum + ack.dropped, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(flood.acks.reduce((sum, ack) => sum + ack.accepted, 0) + dropped).toBe(10_000);
    expect(await registry.metrics()).toMatch(
      new RegExp(`lanyard_monitor_events_dropped_total\\{queue="stream"\\} ${dropped}`),
    );
    flood.close();
    quiet.close();
    slowReporter = undefined;
  }, 180_000);
});
