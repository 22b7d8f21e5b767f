import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { apiStatus } from './api-errors.ts';

/** What identity checks need to know about a Pod. */
export interface PodFacts {
  readonly uid: string;
  readonly serviceAccountName: string;
}

/** Reads a Pod; undefined when it does not exist. Throws when the API server is unreachable. */
export interface PodLookup {
  get(namespace: string, name: string): Promise<PodFacts | undefined>;
}

export function kubePodLookup(kc: KubeConfig): PodLookup {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    async get(namespace, name) {
      try {
        const pod = await api.readNamespacedPod({ namespace, name });
        return {
          uid: pod.metadata?.uid ?? '',
          serviceAccountName: pod.spec?.serviceAccountName ?? 'default',
        };
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw error;
      }
    },
  };
}
