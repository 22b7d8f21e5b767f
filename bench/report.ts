// The benchmark report (not a test): npx tsx bench/report.ts [--out FILE]
// Reads the latest bench/results/*.json (or LANYARD_BENCH_RESULTS) and writes docs/performance.md:
// the hand-written part from bench/performance-preamble.md (what is measured, the setups, how
// to reproduce), then every figure, whether each target of issue #9 is met, and SVG charts in
// docs/performance/ (latency percentiles by rate, throughput, CPU per 1000 requests, RSS).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { DataplaneResult } from './dataplane.ts';
import { barChart } from './lib/charts.ts';
import { RESULTS } from './lib/tools.ts';
import type { MicroResult } from './micro.ts';
import type { SpireResult } from './spire.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const outAt = process.argv.indexOf('--out');
const OUT = outAt >= 0 ? process.argv[outAt + 1]! : join(ROOT, 'docs', 'performance.md');
const CHARTS = join(dirname(OUT), basename(OUT, '.md'));
mkdirSync(CHARTS, { recursive: true });
/** Writes one chart and returns its Markdown image line. */
function chart(name: string, alt: string, svg: string): string {
  writeFileSync(join(CHARTS, name), svg);
  return `![${alt}](${relative(dirname(OUT), join(CHARTS, name))})`;
}

function read<T>(name: string): T | undefined {
  const file = join(RESULTS, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}
interface Run {
  benchmark: string;
  startedAt: string;
  machine: Record<string, string>;
  setup: Record<string, unknown>;
}
const dataplane = read<DataplaneResult>('dataplane');
const spire = read<SpireResult>('spire');
const micro = read<MicroResult>('micro');
const caIssuance = read<
  Run & {
    inProcess: Record<string, number>;
    grpc: { perSecond: number; latencyMs: { p50: number; p99: number }; calls: number };
    rssBytes: { now: number; peak: number };
  }
>('ca-issuance');
const policyRun = read<Run & { decisionP99Ratio: number; figures: Record<string, Record<string, unknown>> }>(
  'policy',
);
const applyRun = read<
  Run & {
    results: {
      clients: number;
      deliveries: number;
      latencyMs: Record<string, number>;
      afterKubectlMs: { p50: number; p99: number };
      controllerCpuPercent: number;
      controllerPeakRssBytes: number;
    }[];
  }
>('apply-to-enforce');
type OpenEntries = DataplaneResult['open'];

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(3) : 'n/a');
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const n = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const lines: string[] = [];
const targets: { target: string; measured: string; met: boolean | undefined }[] = [];
const date = new Date().toISOString().slice(0, 10);

lines.push(readFileSync(join(ROOT, 'bench', 'performance-preamble.md'), 'utf8').trimEnd(), '');
lines.push('## Results', '');
lines.push(`Written by \`npx tsx bench/report.ts\` on ${date} from the runs below.`, '');
const runs = [dataplane, spire, micro, caIssuance, policyRun, applyRun].filter(
  (run): run is NonNullable<typeof run> => run !== undefined,
);
const anyRun = runs[0];
if (anyRun) {
  const m = anyRun.machine;
  lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Node.js ${m.node}.`, '');
  for (const run of runs) {
    if (!run) continue;
    const load = Number(String(run.machine.loadAverageAtStart).split(' ')[0]);
    const shared = load > Number(run.machine.cores);
    const smoke = (run as { setup?: { smoke?: boolean } }).setup?.smoke;
    lines.push(
      `- ${run.benchmark}: started ${run.startedAt}, load average at start ${run.machine.loadAverageAtStart}` +
        (shared ? ' — the machine was busy with other work: wall-clock latencies are disturbed' : '') +
        (smoke ? ' — a --smoke run: its figures mean nothing' : '') +
        '.',
    );
  }
  lines.push('');
}

if (dataplane) {
  const { setup, open, closed, idleRss } = dataplane;
  // The comparators this run measured, in a fixed order (older results have no Node.js pair).
  const proxies = ['nginx', 'node', 'lanyard'].filter((name) => closed[name] !== undefined);
  const allPaths = ['direct', ...proxies];
  lines.push('## Data plane', '');
  lines.push(
    `${setup.connections} keep-alive connections, ${setup.bodyBytes}-byte responses, ${setup.seconds} s per step. ` +
      `App: ${setup.app}. Lanyard: ${setup.lanyard}. nginx: ${setup.nginx}. ` +
      (setup.node ? `Node.js http pair: ${setup.node}. ` : '') +
      `Open loop: ${setup.openLoopGenerator}; closed loop: ${setup.closedLoopGenerator}.`,
    '',
  );
  lines.push('Cores:', ...Object.entries(setup.cores).map(([core, what]) => `- core ${core}: ${what}`), '');
  lines.push('### Latency (ms) at fixed rates, and added over direct', '');
  lines.push(
    '| rate | path | p50 | p90 | p99 | p99.9 | added p50 | added p90 | added p99 | added p99.9 | errors |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const rate of setup.rates) {
    const at = (name: string) => open[name]!.find((entry) => entry.load.rate === rate)!.load;
    for (const name of allPaths) {
      const l = at(name).latencyMs;
      const d = at('direct').latencyMs;
      const added = (k: keyof typeof l) => (name === 'direct' ? '' : ms(l[k] - d[k]));
      lines.push(
        `| ${rate} | ${name} | ${ms(l.p50)} | ${ms(l.p90)} | ${ms(l.p99)} | ${ms(l.p999)} | ${added('p50')} | ${added('p90')} | ${added('p99')} | ${added('p999')} | ${at(name).errors} |`,
      );
    }
  }
  lines.push('', '### Closed loop (saturation)', '');
  const rounds = (name: string) => closed[name]!.roundsRequestsPerSecond;
  if (rounds('direct').length > 1)
    lines.push(
      `${rounds('direct').length} interleaved rounds per path; the table shows each path's median round (by requests/s), with every round's rate beside it.`,
      '',
    );
  lines.push(
    '| path | requests/s | rounds (requests/s) | p50 ms | p99 ms | non-2xx | CPU s per 1000 requests (client, server proxy; share in the kernel) |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- |');
  for (const name of allPaths) {
    const c = closed[name]!;
    lines.push(
      `| ${name} | ${n(c.load.requestsPerSecond)} | ${rounds(name)
        .map((r) => n(r))
        .join(
          ', ',
        )} | ${ms(c.load.latencyMs.p50)} | ${ms(c.load.latencyMs.p99)} | ${c.load.non2xx} | ${c.costs.map(cpuCell).join(', ')} |`,
    );
  }
  lines.push('', '### CPU and memory per proxy process', '');
  lines.push('| rate | path | role | CPU s per 1000 requests (share in the kernel) | peak RSS MB |');
  lines.push('| --- | --- | --- | --- | --- |');
  for (const rate of setup.rates) {
    for (const name of proxies) {
      const entry = open[name]!.find((e) => e.load.rate === rate)!;
      for (const cost of entry.costs) {
        lines.push(`| ${rate} | ${name} | ${cost.role} | ${cpuCell(cost)} | ${mb(cost.peakRssBytes)} |`);
      }
    }
  }
  lines.push('', 'Idle RSS (MB), before any load:', '');
  for (const name of proxies) {
    lines.push(`- ${name}: ${idleRss[name]!.map((p) => `${p.role} ${mb(p.rssBytes)}`).join(', ')}`);
  }
  lines.push('');
  const { afterIdle } = dataplane;
  lines.push(
    `### After ${afterIdle.idleSeconds} s idle`,
    '',
    `Each path used for 1 s, then idle for ${afterIdle.idleSeconds} s, then the first ${afterIdle.seconds} s at ${afterIdle.rate} requests/s (no warm-up): what a pod sees when a burst follows a quiet spell.`,
    '',
    '| path | p50 ms | p99 ms | max ms | CPU s per 1000 requests (client, server proxy) | new mTLS connections |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const name of allPaths) {
    const entry = afterIdle.paths[name];
    if (!entry) continue;
    const l = entry.load.latencyMs;
    lines.push(
      `| ${name} | ${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.max)} | ${entry.costs.map((c) => n(c.cpuSecondsPer1000, 3)).join(', ')} | ${entry.newConnections ?? ''} |`,
    );
  }
  lines.push('');

  const rate1000 = (name: string) => open[name]!.find((e) => e.load.rate === 1000)!;
  if (setup.rates.includes(1000)) {
    const addedP50 = rate1000('lanyard').load.latencyMs.p50 - rate1000('direct').load.latencyMs.p50;
    const addedP99 = rate1000('lanyard').load.latencyMs.p99 - rate1000('direct').load.latencyMs.p99;
    targets.push({
      target: 'added p50 ≤ 0.5 ms at 1000 rps',
      measured: `${ms(addedP50)} ms`,
      met: addedP50 <= 0.5,
    });
    targets.push({
      target: 'added p99 ≤ 1.5 ms at 1000 rps',
      measured: `${ms(addedP99)} ms`,
      met: addedP99 <= 1.5,
    });
    const cpu = Math.max(...rate1000('lanyard').costs.map((c) => c.cpuSecondsPer1000));
    const nginxCpu = Math.max(...rate1000('nginx').costs.map((c) => c.cpuSecondsPer1000));
    targets.push({
      target: '≤ 0.25 vCPU per 1000 rps per sidecar',
      measured: `${n(cpu, 3)} (busier sidecar, at 1000 rps; nginx ${n(nginxCpu, 3)}, ratio ${n(cpu / nginxCpu, 1)}×)`,
      met: cpu <= 0.25,
    });
    const loadRss = Math.max(
      ...setup.rates.flatMap((rate) =>
        open.lanyard!.find((e) => e.load.rate === rate)!.costs.map((c) => c.peakRssBytes),
      ),
      ...closed.lanyard!.costs.map((c) => c.peakRssBytes),
    );
    const nginxLoadRss = Math.max(...closed.nginx!.costs.map((c) => c.peakRssBytes));
    targets.push({
      target: 'RSS ≤ 80 MB under load per sidecar',
      measured: `${mb(loadRss)} MB (nginx worker ${mb(nginxLoadRss)} MB)`,
      met: loadRss <= 80 * 1024 * 1024,
    });
  }
  const idle = Math.max(...idleRss.lanyard!.map((p) => p.rssBytes));
  const nginxIdle = Math.max(...idleRss.nginx!.map((p) => p.rssBytes));
  targets.push({
    target: 'RSS ≤ 60 MB idle per sidecar',
    measured: `${mb(idle)} MB (nginx worker ${mb(nginxIdle)} MB)`,
    met: idle <= 60 * 1024 * 1024,
  });
  const throughput = closed.lanyard!.load.requestsPerSecond / closed.nginx!.load.requestsPerSecond;
  targets.push({
    target: 'throughput ≥ 0.5× the nginx pair',
    measured: `${n(throughput, 2)}× (${n(closed.lanyard!.load.requestsPerSecond)} vs ${n(closed.nginx!.load.requestsPerSecond)} rps)`,
    met: throughput >= 0.5,
  });
  lines.push(chart('latency.svg', 'latency percentiles by rate', latencyChart(setup.rates, open)), '');
  lines.push(
    chart(
      'throughput.svg',
      'closed-loop throughput',
      barChart({
        title: 'closed-loop throughput (requests/s)',
        bars: allPaths.map((name) => ({ label: name, value: closed[name]!.load.requestsPerSecond })),
      }),
    ),
    chart(
      'cpu.svg',
      'CPU seconds per 1000 requests per proxy',
      barChart({
        title: 'CPU s per 1000 requests, per proxy process (closed loop)',
        bars: proxies.flatMap((name) =>
          closed[name]!.costs.map((c) => ({ label: `${name} ${c.role}`, value: c.cpuSecondsPer1000 })),
        ),
        target: { value: 0.25, label: 'target 0.25' },
      }),
    ),
    chart(
      'rss.svg',
      'RSS per proxy process, idle and peak under load',
      barChart({
        title: 'RSS MB per proxy process: idle / peak under load',
        bars: proxies.flatMap((name) =>
          idleRss[name]!.flatMap((p, i) => [
            { label: `${name} ${p.role} idle`, value: p.rssBytes / 2 ** 20 },
            {
              label: `${name} ${p.role} load`,
              value:
                Math.max(
                  ...open[name]!.map((e) => e.costs[i]!.peakRssBytes),
                  closed[name]!.costs[i]!.peakRssBytes,
                ) /
                2 ** 20,
            },
          ]),
        ),
        target: { value: 60, label: 'idle target 60' },
      }),
    ),
    '',
  );
}

if (spire) {
  lines.push('## Identity issuance: Lanyard CA and SPIRE server', '');
  lines.push(
    `${spire.setup.callers} concurrent callers, ${spire.setup.seconds} s per round, ${spire.setup.rounds} rounds interleaved (best round shown).`,
  );
  lines.push(`SPIRE: ${spire.setup.spire}. Lanyard: ${spire.setup.lanyard}.`, '');
  lines.push('What differs per call:', ...spire.setup.differences.map((d: string) => `- ${d}`), '');
  lines.push(
    '| server, SVID | issued/s | p50 ms | p99 ms | errors | server CPU µs/call | client CPU µs/call | server busy (main thread) | client busy | core 0, core 1 busy |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const [name, f] of Object.entries(spire.summary)) {
    const { busy } = f;
    const main = busy.serverMainThread !== null ? ` (${n(busy.serverMainThread, 2)})` : '';
    lines.push(
      `| ${name} | ${n(f.perSecond)} | ${n(f.latencyMs.p50, 1)} | ${n(f.latencyMs.p99, 1)} | ${f.errors} | ${n(f.cpuMicrosPerCall.server)} | ${n(f.cpuMicrosPerCall.client)} | ${n(busy.server, 2) + main} | ${n(busy.client, 2)} | ${busy.cores.map((c) => n(c, 2)).join(', ')} |`,
    );
  }
  lines.push(
    '',
    'Busy: share of one core during the round; cores count every process on the machine. Lanyard/SPIRE issued/s in each pair of back-to-back rounds (the spread of the noise): ' +
      (['x509', 'jwt'] as const)
        .map((kind) => `${kind} ${spire.ratios[kind].throughputPerRound.map((r) => n(r, 2)).join(', ')}`)
        .join('; ') +
      '.',
    '',
  );
  for (const kind of ['x509', 'jwt'] as const) {
    const r = spire.ratios[kind];
    targets.push({
      target: `Lanyard ≥ SPIRE, ${kind === 'x509' ? 'X.509-SVIDs' : 'JWT-SVIDs'} per second`,
      measured: `${n(r.throughput, 2)}× (p99 ratio ${n(r.p99, 2)})`,
      met: r.throughput >= 1,
    });
  }
}

if (micro) {
  lines.push('## Micro benchmarks (one core; rates per CPU second)', '');
  lines.push('| what | rate /s | p50 µs | p99 µs |', '| --- | --- | --- | --- |');
  lines.push(`| openssl speed ecdsap256 sign | ${n(micro.crypto.openssl.signPerSecond)} | | |`);
  lines.push(`| openssl speed ecdsap256 verify | ${n(micro.crypto.openssl.verifyPerSecond)} | | |`);
  lines.push(`| node:crypto P-256 sign | ${n(micro.crypto.nodeCrypto.signPerSecond)} | | |`);
  lines.push(`| node:crypto P-256 verify | ${n(micro.crypto.nodeCrypto.verifyPerSecond)} | | |`);
  lines.push(
    `| JWT validation, cold (new validator: JWKS, key import, verify) | | ${n(micro.jwt.coldMicros.p50)} | ${n(micro.jwt.coldMicros.p99)} |`,
  );
  lines.push(
    `| JWT validation, keys cached | ${n(micro.jwt.keysCachedPerSecond)} | ${n(micro.jwt.keysCachedMicros.p50)} | ${n(micro.jwt.keysCachedMicros.p99)} |`,
  );
  for (const [rules, f] of Object.entries(micro.decisions)) {
    lines.push(
      `| decision, ${rules} rules | ${n(f.perSecond)} | ${n(f.micros.p50, 1)} | ${n(f.micros.p99, 1)} |`,
    );
  }
  const tokenCached = (micro.jwt as { tokenCachedPerSecond?: number }).tokenCachedPerSecond;
  const tokenCachedMicros = (micro.jwt as { tokenCachedMicros?: { p50: number; p99: number } })
    .tokenCachedMicros;
  if (tokenCached !== undefined && tokenCachedMicros)
    lines.push(
      `| JWT validation, token cached (a repeated token) | ${n(tokenCached)} | ${n(tokenCachedMicros.p50, 1)} | ${n(tokenCachedMicros.p99, 1)} |`,
    );
  lines.push(`| path normalization | ${n(micro.paths.perSecond)} | | |`, '');
  lines.push(`Note: ${micro.jwt.note}.`, '');
  // Absent from results written before this case existed.
  const work = (micro as Partial<MicroResult>).sidecarWork;
  if (work) {
    lines.push('Sidecar work per request besides moving bytes (µs of CPU per request):', '');
    lines.push('| what | µs CPU / request |', '| --- | --- |');
    lines.push(`| server sidecar: decide() | ${n(work.decideCpuMicrosPerRequest, 1)} |`);
    lines.push(
      `| server sidecar: decide() + DecisionRecord + metrics + log line + event | ${n(work.cpuMicrosPerRequest, 1)} |`,
    );
    lines.push(`| client sidecar: outbound metrics | ${n(work.outboundMetricsCpuMicrosPerRequest, 2)} |`, '');
    lines.push(`Note: ${work.note}.`, '');
  }
}

if (caIssuance) {
  const f = caIssuance.inProcess;
  lines.push('## CA issuance (in process, and over gRPC)', '');
  lines.push('| what | figure |', '| --- | --- |');
  lines.push(`| X.509-SVIDs per second, in process, one core | ${n(f.x509PerSecond!)} |`);
  lines.push(
    `| raw crypto of one issuance (verify + sign + verify) per second | ${n(f.rawCryptoPerSecond!)} |`,
  );
  lines.push(`| ratio issuance / raw crypto (per CPU second) | ${n(f.ratioPerCpuSecond!, 2)} |`);
  lines.push(`| JWT-SVIDs per second, in process | ${n(f.jwtPerSecond!)} |`);
  lines.push(
    `| gRPC issuance, ${String(caIssuance.setup.callers)} concurrent callers | ${n(caIssuance.grpc.perSecond)}/s, p50 ${n(caIssuance.grpc.latencyMs.p50, 1)} ms, p99 ${n(caIssuance.grpc.latencyMs.p99, 1)} ms |`,
  );
  lines.push(`| RSS, peak during the gRPC run | ${mb(caIssuance.rssBytes.peak)} MB |`, '');
}

if (policyRun) {
  lines.push('## Policy compile, decisions and delivery', '');
  lines.push('| what | figure |', '| --- | --- |');
  for (const [name, f] of Object.entries(policyRun.figures))
    lines.push(`| ${name} | \`${JSON.stringify(f)}\` |`);
  lines.push(
    `| decision p99, larger cluster / smaller cluster (flat is 1.0) | ${n(policyRun.decisionP99Ratio, 2)} |`,
    '',
  );
}

if (applyRun) {
  lines.push('## Apply to enforce', '');
  lines.push(
    '| clients | deliveries | p50 ms | p99 ms | max ms | after kubectl exited p50 / p99 ms | controller CPU | controller RSS peak MB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const r of applyRun.results)
    lines.push(
      `| ${r.clients} | ${r.deliveries} | ${n(r.latencyMs.p50!)} | ${n(r.latencyMs.p99!)} | ${n(r.latencyMs.p100!)} | ${n(r.afterKubectlMs.p50)} / ${n(r.afterKubectlMs.p99)} | ${n(r.controllerCpuPercent)}% | ${mb(r.controllerPeakRssBytes)} |`,
    );
  lines.push('');
}

lines.push('## Targets (issue #9)', '', '| target | measured | |', '| --- | --- | --- |');
for (const t of targets)
  lines.push(`| ${t.target} | ${t.measured} | ${t.met === undefined ? 'n/a' : t.met ? 'met' : 'missed'} |`);
lines.push('');
writeFileSync(OUT, `${lines.join('\n')}\n`);
console.log(`bench: wrote ${OUT} and the charts in ${CHARTS}`);
for (const t of targets) console.log(`${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured}`);

/** CPU seconds per 1000 requests, with the kernel's share when the run recorded it. */
function cpuCell(cost: { cpuSecondsPer1000: number; systemShare?: number }): string {
  const figure = n(cost.cpuSecondsPer1000, 3);
  return cost.systemShare === undefined ? figure : `${figure} (${Math.round(cost.systemShare * 100)}%)`;
}

/** Latency percentiles (log scale) by rate for each path, one panel per percentile. */
function latencyChart(rates: number[], open: OpenEntries): string {
  const keys = ['p50', 'p90', 'p99', 'p999'] as const;
  const colors: Record<string, string> = { direct: '#888', nginx: '#2a7', node: '#37c', lanyard: '#c33' };
  const width = 220;
  const height = 200;
  const all = keys.flatMap((k) => Object.values(open).flatMap((e) => e.map((x) => x.load.latencyMs[k])));
  const lo = Math.log10(Math.max(0.01, Math.min(...all)));
  const hi = Math.log10(Math.max(...all));
  const y = (v: number) =>
    height - 20 - ((Math.log10(Math.max(v, 0.01)) - lo) / (hi - lo || 1)) * (height - 40);
  const x = (i: number) => 30 + (i * (width - 50)) / Math.max(1, rates.length - 1);
  const panels = keys.map((k, p) => {
    const series = Object.entries(open).map(([name, entries]) => {
      const points = rates.map(
        (rate, i) => `${x(i)},${y(entries.find((e) => e.load.rate === rate)!.load.latencyMs[k])}`,
      );
      return `<polyline fill="none" stroke="${colors[name]}" stroke-width="2" points="${points.join(' ')}"/>`;
    });
    const labels = rates.map(
      (rate, i) => `<text x="${x(i)}" y="${height - 5}" font-size="9" text-anchor="middle">${rate}</text>`,
    );
    return `<g transform="translate(${p * width},20)"><text x="${width / 2}" y="10" font-size="11" text-anchor="middle">${k === 'p999' ? 'p99.9' : k} (ms, log)</text>${series.join('')}${labels.join('')}</g>`;
  });
  const legend = Object.entries(colors)
    .filter(([name]) => open[name] !== undefined)
    .map(
      ([name, color], i) => `<text x="${10 + i * 80}" y="14" font-size="11" fill="${color}">■ ${name}</text>`,
    );
  const ticks = [lo, (lo + hi) / 2, hi].map(
    (v) => `<text x="2" y="${20 + y(10 ** v)}" font-size="8">${(10 ** v).toFixed(2)}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width * keys.length}" height="${height + 30}" font-family="sans-serif">${legend.join('')}${ticks.join('')}${panels.join('')}</svg>\n`;
}
