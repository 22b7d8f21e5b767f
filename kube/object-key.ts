import type { KubernetesObject } from '@kubernetes/client-node';

/** The work-queue key of an object: "namespace/name", or "name" when cluster-scoped. */
export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  if (!name) throw new TypeError('a Kubernetes object without metadata.name has no key');
  return namespace ? `${namespace}/${name}` : name;
}
