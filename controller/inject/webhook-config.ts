// The MutatingWebhookConfiguration that sends pods to the injector. The API server does not
// send the pod's namespace with the review, so namespace opt-in is expressed here, with two
// webhooks (as Istio does) rather than a namespace lookup in the webhook:
//   - pods of namespaces labelled lanyard.dev/inject=enabled, unless the pod says disabled;
//   - pods labelled lanyard.dev/inject=enabled in any other namespace (the pod overrides).
import type {
  V1LabelSelector,
  V1LabelSelectorRequirement,
  V1MutatingWebhookConfiguration,
  V1MutatingWebhook,
  AdmissionregistrationV1WebhookClientConfig,
} from '@kubernetes/client-node';
import { INJECT_LABEL } from './injector.ts';

export interface WebhookConfigurationOptions {
  /** The object's name; default `lanyard-injector`. */
  name?: string;
  /** Where the API server calls: a Service (in-cluster) or a URL. Both use path /inject. */
  clientConfig: { service: { namespace: string; name: string; port?: number } } | { url: string };
  /** PEM of the CA that signed the webhook's serving certificate. */
  caBundlePem: string;
  /** Default Fail: a pod never starts without its sidecar because the webhook was down. */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Namespaces never sent to the webhook: at least the control plane's own, so it can start. */
  excludeNamespaces?: readonly string[];
  /** Extra namespace label requirements ANDed into both webhooks (tests use it to stay scoped). */
  extraNamespaceLabels?: Readonly<Record<string, string>>;
  timeoutSeconds?: number;
}

function withExclusions(
  base: V1LabelSelectorRequirement[],
  options: WebhookConfigurationOptions,
): V1LabelSelector {
  const expressions = [...base];
  if (options.excludeNamespaces && options.excludeNamespaces.length > 0) {
    expressions.push({
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: [...options.excludeNamespaces],
    });
  }
  return {
    matchExpressions: expressions,
    ...(options.extraNamespaceLabels ? { matchLabels: { ...options.extraNamespaceLabels } } : {}),
  };
}

export function injectionWebhookConfiguration(
  options: WebhookConfigurationOptions,
): V1MutatingWebhookConfiguration {
  const caBundle = Buffer.from(options.caBundlePem).toString('base64');
  const clientConfig: AdmissionregistrationV1WebhookClientConfig =
    'url' in options.clientConfig
      ? { url: options.clientConfig.url, caBundle }
      : {
          service: {
            ...options.clientConfig.service,
            path: '/inject',
            port: options.clientConfig.service.port ?? 443,
          },
          caBundle,
        };
  const common = {
    clientConfig,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: options.failurePolicy ?? 'Fail',
    matchPolicy: 'Equivalent',
    // Another webhook may add containers after ours; the injector answers a second call with
    // an empty patch, so being called again is cheap and safe.
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds: options.timeoutSeconds ?? 10,
    rules: [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ],
  } satisfies Partial<V1MutatingWebhook>;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name ?? 'lanyard-injector' },
    webhooks: [
      {
        ...common,
        name: 'namespace.inject.lanyard.dev',
        namespaceSelector: withExclusions(
          [{ key: INJECT_LABEL, operator: 'In', values: ['enabled'] }],
          options,
        ),
        objectSelector: {
          matchExpressions: [{ key: INJECT_LABEL, operator: 'NotIn', values: ['disabled'] }],
        },
      },
      {
        ...common,
        name: 'object.inject.lanyard.dev',
        namespaceSelector: withExclusions(
          [{ key: INJECT_LABEL, operator: 'NotIn', values: ['enabled'] }],
          options,
        ),
        objectSelector: { matchLabels: { [INJECT_LABEL]: 'enabled' } },
      },
    ],
  };
}
