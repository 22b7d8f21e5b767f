// The Lanyard CA's gRPC server as a process of its own, for bench/spire.ts (run with
// `node --import tsx`, pinned to a core like the SPIRE server it is compared with). Prints one
// JSON line once serving: {port, rootsPem}. Then, for each line on its stdin, a JSON array of
// counts per caller, it prints one JSON line: that many fresh single-use join tokens for each
// caller c (each caller its own identity, as workloads are). Stops on SIGTERM.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { CallerAuthenticator } from '../../ca/caller-auth.ts';
import { startCaServer } from '../../ca/grpc-server.ts';
import { JoinTokens } from '../../ca/join-tokens.ts';
import { systemClock } from '../../lib/clock.ts';
import { openBenchCa } from './bench-ca.ts';

const callers = Number(process.env.BENCH_CALLERS ?? 100);
const dir = mkdtempSync(join(tmpdir(), 'lanyard-bench-ca-'));
const { keyring, ca } = await openBenchCa(dir);
const joinTokens = new JoinTokens(systemClock);
const server = await startCaServer({
  ca,
  auth: new CallerAuthenticator({ trustDomain: 'cluster.local', clock: systemClock, keyring, joinTokens }),
  trustDomain: 'cluster.local',
  serverIdentity: { trustDomain: 'cluster.local', namespace: 'lanyard-system', serviceAccount: 'lanyard' },
  clock: systemClock,
  host: '127.0.0.1',
  port: 0,
  // Every bench caller shares one address; the per-address bound on credential checks is for
  // hostile floods, not for this load.
  attestationsPerSecond: 1_000_000,
  ratePerSecond: 1_000_000,
});
process.stdout.write(`${JSON.stringify({ port: server.port, rootsPem: ca.bundle().rootPems.join('') })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  const counts = JSON.parse(line) as number[];
  if (counts.length !== callers) throw new Error(`expected ${callers} counts`);
  const tokens = counts.map((count, caller) =>
    Array.from({ length: count }, () =>
      joinTokens.create(
        { trustDomain: 'cluster.local', namespace: 'bench', serviceAccount: `caller-${caller}` },
        3600_000,
      ),
    ),
  );
  process.stdout.write(`${JSON.stringify(tokens)}\n`);
});
const stop = () =>
  void server.close().then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
