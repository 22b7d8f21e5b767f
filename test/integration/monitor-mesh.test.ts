// The wiring end to end: real sidecars of the dev mesh report their decisions over their SVIDs
// to the control plane's EventService, which counts them by policy, decision and source.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevMesh, type DevMesh } from '../../dev/mesh.ts';
import { runScenario } from '../../dev/scenario.ts';
import { eventually } from '../helpers/eventually.ts';

const stateDir = mkdtempSync(join(tmpdir(), 'lanyard-monitor-mesh-'));
let mesh: DevMesh;
let decisions = 0;

beforeAll(async () => {
  mesh = await startDevMesh({ stateDir, onDecision: () => (decisions += 1) });
});

afterAll(async () => {
  await mesh?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

/** Sum of a counter's samples whose labels match `labels`. */
async function total(name: string, labels: RegExp = /.*/): Promise<number> {
  const text = await mesh.controlPlane.registry.metrics();
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)$`, 'gm'))]
    .filter((m) => labels.test(m[1]!))
    .reduce((sum, m) => sum + Number(m[2]), 0);
}

describe('monitoring in the dev mesh', () => {
  it('receives every decision the sidecars made, attributed and counted', async () => {
    await runScenario(mesh);
    expect(decisions).toBeGreaterThan(0);
    await eventually(
      async () => (await total('lanyard_monitor_events_total')) === decisions,
      'every decision counted by the control plane',
      30_000,
    );
    expect(await total('lanyard_monitor_events_total', /decision="DENY"/)).toBeGreaterThan(0);
    expect(
      await total('lanyard_monitor_events_total', /source="spiffe:\/\/[^"]+\/ns\/demo\/sa\/[a-z]+"/),
    ).toBeGreaterThan(0);
    expect(await total('lanyard_monitor_events_rejected_total')).toBe(0);
    expect(mesh.controlPlane.monitor.service.connected).toBeGreaterThanOrEqual(3);
  });
});
