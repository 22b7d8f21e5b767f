import { KubeConfig } from '@kubernetes/client-node';

/**
 * A KubeConfig from a kubeconfig file when a path is given, else the in-cluster
 * ServiceAccount. The caller decides where the path comes from (flag or environment).
 */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
  return kc;
}
