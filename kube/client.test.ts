import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from './client.ts';

describe('loadKubeConfig', () => {
  it('reads the kubeconfig file it is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lanyard-kubeconfig-'));
    try {
      const path = join(dir, 'config');
      writeFileSync(
        path,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
          users: [{ name: 'u', user: { token: 't' } }],
          contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
          'current-context': 'x',
        }),
      );
      expect(loadKubeConfig(path).getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
