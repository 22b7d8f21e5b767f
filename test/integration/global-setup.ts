import type { TestProject } from 'vitest/node';
import { ensureClusterBinaries } from '../cluster/binaries.ts';
import { startTestCluster } from '../cluster/cluster.ts';
import { externalKubeconfig } from '../cluster/settings.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the kubeconfig of the cluster the integration tests run against. */
    kubeconfig: string;
    /** Directory of kubectl, helm, etcd and kube-apiserver built from pinned modules. */
    clusterBinDir: string;
    /** True when the tests started the cluster themselves (false for LANYARD_TEST_KUBECONFIG). */
    ownCluster: boolean;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const binDir = await ensureClusterBinaries();
  project.provide('clusterBinDir', binDir);
  const external = externalKubeconfig();
  if (external) {
    process.stderr.write(`integration tests: using the cluster of LANYARD_TEST_KUBECONFIG=${external}\n`);
    project.provide('kubeconfig', external);
    project.provide('ownCluster', false);
    return undefined;
  }
  const cluster = await startTestCluster({ binDir });
  project.provide('kubeconfig', cluster.kubeconfigPath);
  project.provide('ownCluster', true);
  return () => cluster.stop();
}
