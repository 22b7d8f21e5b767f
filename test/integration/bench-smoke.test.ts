// Every benchmark of bench/ in --smoke mode (seconds, figures meaningless), as a child process:
// they are not tests, but this keeps them working. Each must exit 0 and write its JSON result
// (to a temporary LANYARD_BENCH_RESULTS, never over bench/results) with the expected shape and
// an entry for every comparator it measures; then the report must render from those results.
// No timing is asserted. Needs nginx, wrk and taskset (Debian: nginx-light, wrk, util-linux),
// the Go toolchain for vegeta (built once into ~/.cache/lanyard/bench), and the test cluster's
// binaries for apply-to-enforce. SPIRE's cold build takes far longer than CI should wait: its
// smoke run is opt-in with LANYARD_BENCH_SPIRE=1 (and then uses the cached build if present).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const results = mkdtempSync(join(tmpdir(), 'lanyard-bench-smoke-'));
afterAll(() => rmSync(results, { recursive: true, force: true }));

function runBench(script: string, args: string[] = []): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', script), '--smoke', ...args],
      {
        cwd: ROOT,
        env: { ...process.env, LANYARD_BENCH_RESULTS: results },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

// Typed as unknown: the matchers stand for values, and the lint rules refuse `any` in objects.
const finite: unknown = expect.any(Number);
const aString: unknown = expect.any(String);

async function smoke(script: string, name: string): Promise<Record<string, unknown>> {
  const { code, output } = await runBench(script);
  expect(code, output).toBe(0);
  const file = join(results, `${name}.json`);
  expect(existsSync(file), output).toBe(true);
  const result = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  expect(result).toMatchObject({
    benchmark: name,
    startedAt: aString,
    machine: { cpu: aString, cores: aString, node: process.version },
  });
  return result;
}

const MINUTES = 60_000;

describe('benchmarks in --smoke mode', () => {
  it(
    'dataplane: direct, the nginx pair, the Node.js http pair and the Lanyard pair, open and closed loop, CPU and RSS per proxy',
    async () => {
      const result = (await smoke('dataplane.ts', 'dataplane')) as {
        setup: { rates: number[]; smoke: boolean };
        idleRss: Record<string, { role: string; rssBytes: number }[]>;
        open: Record<
          string,
          { load: { rate: number; requests: number; errors: number }; costs: unknown[] }[]
        >;
        closed: Record<
          string,
          {
            load: { requestsPerSecond: number; non2xx: number };
            costs: unknown[];
            roundsRequestsPerSecond: number[];
          }
        >;
        afterIdle: {
          paths: Record<string, { load: { requests: number; errors: number }; costs: unknown[] }>;
        };
      };
      expect(result.setup.smoke).toBe(true);
      for (const path of ['direct', 'nginx', 'node', 'lanyard']) {
        expect(result.open[path]!.map((entry) => entry.load.rate)).toEqual(result.setup.rates);
        for (const entry of result.open[path]!) {
          expect(entry.load.requests).toBeGreaterThan(0);
          expect(entry.load.errors).toBe(0);
        }
        expect(result.closed[path]!.load).toMatchObject({ requestsPerSecond: finite, non2xx: 0 });
        // One round in a smoke run; the median round is the one kept.
        expect(result.closed[path]!.roundsRequestsPerSecond).toEqual([
          result.closed[path]!.load.requestsPerSecond,
        ]);
        expect(result.afterIdle.paths[path]!.load.requests).toBeGreaterThan(0);
        expect(result.afterIdle.paths[path]!.load.errors).toBe(0);
      }
      for (const path of ['nginx', 'node', 'lanyard']) {
        expect(result.idleRss[path]!.map((p) => p.role)).toEqual(['client', 'server']);
        const cost = {
          cpuSeconds: finite,
          cpuSecondsPer1000: finite,
          systemShare: finite,
          peakRssBytes: finite,
        };
        expect(result.closed[path]!.costs).toEqual([
          { role: 'client', ...cost },
          { role: 'server', ...cost },
        ]);
      }
      expect(result.closed.lanyard).toMatchObject({ newConnections: finite });
      expect(result.afterIdle.paths.lanyard).toMatchObject({ newConnections: finite });
    },
    15 * MINUTES,
  );

  it(
    'micro: JWT validation (cold, keys cached, token cached) and decisions beside raw crypto',
    async () => {
      const result = await smoke('micro.ts', 'micro');
      expect(result).toMatchObject({
        crypto: {
          openssl: { signPerSecond: finite, verifyPerSecond: finite },
          nodeCrypto: { signPerSecond: finite, verifyPerSecond: finite },
        },
        jwt: { keysCachedPerSecond: finite, tokenCachedPerSecond: finite, coldMicros: { p50: finite } },
        decisions: {
          '10': { perSecond: finite },
          '1000': { perSecond: finite },
          '10000': { perSecond: finite },
        },
        paths: { perSecond: finite },
      });
    },
    5 * MINUTES,
  );

  it(
    'ca-issuance: in-process issuance against the raw crypto it needs, and gRPC issuance',
    async () => {
      const result = await smoke('ca-issuance.ts', 'ca-issuance');
      expect(result).toMatchObject({
        inProcess: { x509PerSecond: finite, rawCryptoPerSecond: finite, ratio: finite, jwtPerSecond: finite },
        grpc: { perSecond: finite, latencyMs: { p50: finite, p99: finite }, calls: 10 },
      });
    },
    5 * MINUTES,
  );

  it(
    'policy: compile, decisions in a small and a larger cluster, stream delivery, Ready accounting',
    async () => {
      const result = await smoke('policy.ts', 'policy');
      expect(result).toMatchObject({
        decisionP99Ratio: finite,
        figures: {
          compile100: { ms: finite },
          compile1000: { ms: finite },
          decision100: { micros: { p99: finite } },
          decision1000: { micros: { p99: finite } },
          delivery5: { clients: 5 },
          readyAccounting: { sidecars: 100 },
        },
      });
    },
    5 * MINUTES,
  );

  it(
    'apply-to-enforce: kubectl apply to delivery at every connected client',
    async () => {
      const result = (await smoke('apply-to-enforce.ts', 'apply-to-enforce')) as {
        results: { clients: number; deliveries: number }[];
      };
      expect(result.results).toHaveLength(1);
      expect(result.results[0]).toMatchObject({
        clients: 3,
        deliveries: 6,
        afterKubectlMs: { p50: finite, p99: finite },
      });
    },
    10 * MINUTES,
  );

  it.runIf(process.env.LANYARD_BENCH_SPIRE === '1')(
    'spire (LANYARD_BENCH_SPIRE=1): the Lanyard CA and a SPIRE server, X.509- and JWT-SVIDs',
    async () => {
      const result = await smoke('spire.ts', 'spire');
      expect(result).toMatchObject({
        ratios: {
          x509: { throughput: finite, p99: finite, throughputPerRound: [finite] },
          jwt: { throughput: finite, p99: finite, throughputPerRound: [finite] },
        },
      });
      const { summary } = result as { summary: Record<string, unknown> };
      for (const name of ['lanyard x509', 'spire x509', 'lanyard jwt', 'spire jwt']) {
        expect(summary[name]).toMatchObject({
          perSecond: finite,
          cpuMicrosPerCall: { server: finite, client: finite },
          busy: { server: finite, client: finite, cores: expect.arrayContaining([finite]) as unknown },
        });
      }
      expect(summary['lanyard x509']).toMatchObject({ busy: { serverMainThread: finite } });
    },
    60 * MINUTES,
  );

  it(
    'report: renders the results above into a page with charts and a targets table',
    async () => {
      const out = join(results, 'report', 'performance.md');
      const { code, output } = await runBench('report.ts', ['--out', out]);
      expect(code, output).toBe(0);
      const page = readFileSync(out, 'utf8');
      expect(page).toContain('## Targets (issue #9)');
      expect(page).toMatch(/\| throughput ≥ 0\.5× the nginx pair \| .* \| (met|missed) \|/);
      for (const svg of ['latency.svg', 'throughput.svg', 'cpu.svg', 'rss.svg']) {
        expect(page).toContain(`(performance/${svg})`);
        expect(readFileSync(join(results, 'report', 'performance', svg), 'utf8')).toMatch(/^<svg /);
      }
    },
    2 * MINUTES,
  );
});
