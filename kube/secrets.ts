import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { apiStatus } from './api-errors.ts';

/** A Secret's data (decoded) and its resourceVersion, for optimistic concurrency. */
export interface SecretData {
  readonly data: Readonly<Record<string, Buffer>>;
  readonly resourceVersion: string;
}

export type SecretWriteResult = { ok: true; secret: SecretData } | { ok: false; reason: 'conflict' };

/** Get, create and replace one namespaced Secret; a 409 is a result, not an exception. */
export interface SecretClient {
  get(namespace: string, name: string): Promise<SecretData | undefined>;
  create(namespace: string, name: string, data: Record<string, Buffer>): Promise<SecretWriteResult>;
  replace(
    namespace: string,
    name: string,
    data: Record<string, Buffer>,
    resourceVersion: string,
  ): Promise<SecretWriteResult>;
}

function decode(secret: {
  data?: Record<string, string>;
  metadata?: { resourceVersion?: string };
}): SecretData {
  const data: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, 'base64');
  return { data, resourceVersion: secret.metadata?.resourceVersion ?? '' };
}

function encode(data: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, value.toString('base64')]));
}

export function kubeSecretClient(kc: KubeConfig, labels: Record<string, string> = {}): SecretClient {
  const api = kc.makeApiClient(CoreV1Api);
  const write = async (call: () => Promise<Parameters<typeof decode>[0]>): Promise<SecretWriteResult> => {
    try {
      return { ok: true, secret: decode(await call()) };
    } catch (error) {
      if (apiStatus(error) === 409) return { ok: false, reason: 'conflict' };
      throw error;
    }
  };
  return {
    async get(namespace, name) {
      try {
        return decode(await api.readNamespacedSecret({ namespace, name }));
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw error;
      }
    },
    create(namespace, name, data) {
      return write(() =>
        api.createNamespacedSecret({
          namespace,
          body: { metadata: { name, labels }, type: 'Opaque', data: encode(data) },
        }),
      );
    },
    replace(namespace, name, data, resourceVersion) {
      return write(() =>
        api.replaceNamespacedSecret({
          namespace,
          name,
          body: { metadata: { name, labels, resourceVersion }, type: 'Opaque', data: encode(data) },
        }),
      );
    },
  };
}
