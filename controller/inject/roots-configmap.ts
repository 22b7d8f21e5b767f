// The `lanyard-roots` ConfigMap (key roots.pem): the trust bundle's roots, published by the
// leader into the control plane's namespace and every injected namespace, where sidecars mount
// it. Get + create/update only (no list or watch: the namespace informer says where). A
// ConfigMap of that name that Lanyard did not create is someone else's: it is left alone.
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { apiStatus } from '../../kube/api-errors.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { InjectErrorCode } from './errors.ts';
import { ROOTS_CONFIGMAP, ROOTS_KEY } from './injector.ts';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'lanyard';

export type RootsAction =
  | { kind: 'create'; body: V1ConfigMap }
  | { kind: 'update'; body: V1ConfigMap }
  | { kind: 'current' }
  | { kind: 'unmanaged' };

/** What to do about one namespace's `lanyard-roots`, given what is stored there now. */
export function rootsConfigMapAction(
  existing: V1ConfigMap | undefined,
  namespace: string,
  rootsPem: string,
): RootsAction {
  if (!existing) {
    return {
      kind: 'create',
      body: {
        metadata: { name: ROOTS_CONFIGMAP, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
        data: { [ROOTS_KEY]: rootsPem },
      },
    };
  }
  if (existing.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) return { kind: 'unmanaged' };
  const data = existing.data ?? {};
  if (data[ROOTS_KEY] === rootsPem && Object.keys(data).length === 1 && !existing.binaryData) {
    return { kind: 'current' };
  }
  // The update carries the resourceVersion it read: a concurrent writer makes it fail (409),
  // and the retry reads again.
  return {
    kind: 'update',
    body: {
      metadata: { ...existing.metadata, name: ROOTS_CONFIGMAP, namespace },
      data: { [ROOTS_KEY]: rootsPem },
    },
  };
}

/** The ConfigMap calls the publisher makes: exactly get, create and replace. */
export interface ConfigMapClient {
  get(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  create(namespace: string, body: V1ConfigMap): Promise<void>;
  replace(namespace: string, name: string, body: V1ConfigMap): Promise<void>;
}

export function kubeConfigMapClient(kc: KubeConfig): ConfigMapClient {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    async get(namespace, name) {
      try {
        return await api.readNamespacedConfigMap({ namespace, name });
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw error;
      }
    },
    async create(namespace, body) {
      await api.createNamespacedConfigMap({ namespace, body });
    },
    async replace(namespace, name, body) {
      await api.replaceNamespacedConfigMap({ namespace, name, body });
    },
  };
}

export interface RootsPublisherOptions {
  client: ConfigMapClient;
  rootsPem: () => string;
  /** Records a warning Event on the ConfigMap that is not ours (best effort). */
  warnUnmanaged?: (namespace: string, configMap: V1ConfigMap) => Promise<void>;
  log?: Logger;
}

export type RootsPublishResult = RootsAction['kind'];

export class RootsPublisher {
  private readonly log: Logger;
  /** Namespaces already warned about, so a resync does not repeat the warning. */
  private readonly warned = new Set<string>();

  constructor(private readonly options: RootsPublisherOptions) {
    this.log = options.log ?? silentLogger;
  }

  /** Brings one namespace's ConfigMap to the current roots; throws to be retried. */
  async publish(namespace: string): Promise<RootsPublishResult> {
    const { client } = this.options;
    const existing = await client.get(namespace, ROOTS_CONFIGMAP);
    const action = rootsConfigMapAction(existing, namespace, this.options.rootsPem());
    switch (action.kind) {
      case 'create':
        try {
          await client.create(namespace, action.body);
        } catch (error) {
          // Created meanwhile (another leader's last write, or a user): decide again next time.
          if (apiStatus(error) === 409)
            throw new Error(`${namespace}/${ROOTS_CONFIGMAP} appeared meanwhile`, { cause: error });
          throw error;
        }
        this.log.info({ namespace }, 'lanyard-roots published');
        break;
      case 'update':
        await client.replace(namespace, ROOTS_CONFIGMAP, action.body);
        this.log.info({ namespace }, 'lanyard-roots updated');
        break;
      case 'unmanaged':
        if (!this.warned.has(namespace)) {
          this.warned.add(namespace);
          const code: InjectErrorCode = 'ERR_ROOTS_CONFIGMAP_UNMANAGED';
          this.log.warn(
            { code, namespace, configMap: ROOTS_CONFIGMAP },
            `a ConfigMap ${ROOTS_CONFIGMAP} without ${MANAGED_BY_LABEL}=${MANAGED_BY} exists; left alone, so sidecars here may hold stale roots`,
          );
          await this.options
            .warnUnmanaged?.(namespace, existing!)
            .catch((error: unknown) =>
              this.log.warn({ namespace, err: String(error) }, 'could not record an Event'),
            );
        }
        break;
      case 'current':
        break;
    }
    if (action.kind !== 'unmanaged') this.warned.delete(namespace);
    return action.kind;
  }
}
