/**
 * Error codes of the controller's injection hosting (controller/inject/). They name conditions
 * the controller logs (field `code`) and reports as Events; none reaches a remote caller.
 */
export const INJECT_ERRORS = Object.freeze({
  ERR_WEBHOOK_CONFIG_MISSING:
    'The MutatingWebhookConfiguration to patch does not exist; the controller retries and never creates it.',
  ERR_WEBHOOK_CONFIG_PATCH_FAILED:
    'Patching the caBundle of the MutatingWebhookConfiguration failed; retried.',
  ERR_ROOTS_CONFIGMAP_UNMANAGED:
    'A lanyard-roots ConfigMap exists that Lanyard did not create (no managed-by label); it is left alone.',
  ERR_POD_WITHOUT_SIDECAR: 'A pod that should carry the sidecar runs without it.',
  ERR_EVICTION_REFUSED:
    'Evicting a pod without a sidecar was refused (e.g. by a PodDisruptionBudget); retried.',
});

export type InjectErrorCode = keyof typeof INJECT_ERRORS;
