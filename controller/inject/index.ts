// Sidecar injection: the pure injector, the AdmissionReview handling, the HTTPS webhook and the
// MutatingWebhookConfiguration that points the API server at it.
export {
  injectPod,
  resolveInjectOptions,
  DEFAULT_RESOURCES,
  INJECT_LABEL,
  INJECTED_ANNOTATION,
  SKIPPED_ANNOTATION,
  PROBES_ANNOTATION,
  APP_PORT_ANNOTATION,
  SIDECAR_CONTAINER,
  INIT_CONTAINER,
  TOKEN_VOLUME,
  ROOTS_VOLUME,
  ROOTS_CONFIGMAP,
  TOKEN_AUDIENCE,
  PROXY_UID,
  type InjectOptions,
  type InjectResult,
  type InjectReason,
  type JsonPatchOp,
  type OriginalProbes,
  type ResourceRequirements,
} from './injector.ts';
export {
  admit,
  parseAdmissionReview,
  MalformedReviewError,
  type AdmissionDecision,
  type AdmissionOutcome,
  type AdmissionRequest,
  type AdmissionReviewOut,
} from './admission.ts';
export {
  buildInjectionWebhook,
  startInjectionWebhook,
  DEFAULT_BODY_LIMIT,
  type InjectionWebhook,
  type InjectionWebhookOptions,
  type StartInjectionWebhookOptions,
  type TlsPems,
} from './server.ts';
export { injectionWebhookConfiguration, type WebhookConfigurationOptions } from './webhook-config.ts';
