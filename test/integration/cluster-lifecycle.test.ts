// The test cluster leaves nothing behind: no process, no temp data, also after a failure.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { CLUSTER_DIR_PREFIX, reapStaleClusters, startTestCluster } from '../cluster/cluster.ts';

const binDir = inject('clusterBinDir');
const scratch: string[] = [];

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function privateBaseDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-lifecycle-'));
  scratch.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('startTestCluster', () => {
  it('stops etcd and kube-apiserver and removes their data', async () => {
    const baseDir = privateBaseDir();
    const cluster = await startTestCluster({ binDir, baseDir, log: () => undefined });
    expect(cluster.pids).toHaveLength(2);
    expect(cluster.pids.every(isAlive)).toBe(true);
    expect(existsSync(cluster.kubeconfigPath)).toBe(true);

    await cluster.stop();

    expect(cluster.pids.filter(isAlive)).toEqual([]);
    expect(existsSync(cluster.dir)).toBe(false);
    expect(readdirSync(baseDir)).toEqual([]);
  });

  it('fails on a port collision with the API server last log lines and leaves nothing', async () => {
    const baseDir = privateBaseDir();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as { port: number }).port;
    try {
      await expect(
        startTestCluster({ binDir, baseDir, ports: { apiserver: port }, log: () => undefined }),
      ).rejects.toThrow(new RegExp(`kube-apiserver exited[\\s\\S]*${port}[\\s\\S]*address already in use`));
    } finally {
      squatter.close();
    }
    expect(readdirSync(baseDir)).toEqual([]);
  });

  it('fails when the API server is not ready within the bound, and leaves nothing', async () => {
    const baseDir = privateBaseDir();
    await expect(
      startTestCluster({ binDir, baseDir, readyTimeoutMs: 1, log: () => undefined }),
    ).rejects.toThrow(/not ready in time; last (etcd|kube-apiserver) log lines/);
    expect(readdirSync(baseDir)).toEqual([]);
  });
});

describe('reapStaleClusters', () => {
  it('kills the processes of a cluster whose owner died and removes its directory', async () => {
    const baseDir = privateBaseDir();
    const dir = mkdtempSync(join(baseDir, CLUSTER_DIR_PREFIX));
    // A stand-in for an orphaned etcd: a real process whose command line names the cluster dir.
    const orphan = spawn('sleep', ['300', dir], { stdio: 'ignore', detached: true });
    const exited = new Promise((resolve) => orphan.once('exit', resolve));
    const deadOwner = spawn('true');
    await new Promise((resolve) => deadOwner.once('exit', resolve));
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ ownerPid: deadOwner.pid, pids: [orphan.pid] }));
    const bystander = mkdtempSync(join(baseDir, CLUSTER_DIR_PREFIX));
    writeFileSync(join(bystander, 'owner.json'), JSON.stringify({ ownerPid: process.pid, pids: [] }));

    expect(reapStaleClusters(baseDir)).toEqual([dir]);

    await exited;
    expect(isAlive(orphan.pid!)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(bystander)).toBe(true);
  });
});
