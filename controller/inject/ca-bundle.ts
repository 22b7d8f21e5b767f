// Keeps the caBundle of the injection MutatingWebhookConfiguration equal to the CA's trust
// bundle, so the API server trusts the webhook's serving certificate through a root rotation.
// The chart owns the object (and may reset caBundle on `helm upgrade`); the leader only patches
// caBundle with get + JSON patch, repairs it periodically, and never creates the object or
// touches any other webhook configuration.
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { apiStatus } from '../../kube/api-errors.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { InjectErrorCode } from './errors.ts';

export type CaBundlePatchOp =
  { op: 'test'; path: string; value: unknown } | { op: 'add'; path: string; value: string };

/**
 * The JSON patch that sets every webhook's caBundle to `bundlePem` (base64, as the API stores
 * it); empty when all are current. A `test` of each webhook's name guards the index, so a
 * concurrent reorder makes the patch fail instead of writing the wrong entry.
 */
export function caBundlePatch(
  configuration: V1MutatingWebhookConfiguration,
  bundlePem: string,
): CaBundlePatchOp[] {
  const desired = Buffer.from(bundlePem).toString('base64');
  const patch: CaBundlePatchOp[] = [];
  (configuration.webhooks ?? []).forEach((webhook, index) => {
    if (webhook.clientConfig?.caBundle === desired) return;
    patch.push(
      { op: 'test', path: `/webhooks/${index}/name`, value: webhook.name },
      // `add` sets a member whether or not it exists (RFC 6902 4.1).
      { op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: desired },
    );
  });
  return patch;
}

export type CaBundleSyncResult = 'patched' | 'current' | 'missing';

/** Reads and patches one MutatingWebhookConfiguration; the seam that tests replace. */
export interface WebhookConfigurationClient {
  get(name: string): Promise<V1MutatingWebhookConfiguration | undefined>;
  patch(name: string, patch: readonly CaBundlePatchOp[]): Promise<void>;
}

export function kubeWebhookConfigurationClient(kc: KubeConfig): WebhookConfigurationClient {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  return {
    async get(name) {
      try {
        return await api.readMutatingWebhookConfiguration({ name });
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw error;
      }
    },
    async patch(name, patch) {
      // The generated client sends application/json-patch+json, the first type it offers.
      await api.patchMutatingWebhookConfiguration({ name, body: patch });
    },
  };
}

export interface CaBundlePatcherOptions {
  client: WebhookConfigurationClient;
  /** The MutatingWebhookConfiguration's name (the contract's LANYARD_WEBHOOK_CONFIG_NAME). */
  name: string;
  /** The CA's current roots, concatenated PEM. */
  bundlePem: () => string;
  log?: Logger;
}

export class CaBundlePatcher {
  private readonly log: Logger;
  private missingReported = false;
  private running: Promise<CaBundleSyncResult> | undefined;
  private again = false;

  constructor(private readonly options: CaBundlePatcherOptions) {
    this.log = options.log ?? silentLogger;
  }

  /**
   * Brings caBundle up to date. Calls that overlap a running sync coalesce into one more run
   * after it, so a root change during a sync is never lost.
   */
  sync(): Promise<CaBundleSyncResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.syncOnce().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.sync().catch(() => undefined);
      }
    });
    return this.running;
  }

  private async syncOnce(): Promise<CaBundleSyncResult> {
    const { client, name } = this.options;
    const configuration = await client.get(name);
    if (!configuration) {
      if (!this.missingReported) {
        const code: InjectErrorCode = 'ERR_WEBHOOK_CONFIG_MISSING';
        this.log.warn(
          { code, webhookConfiguration: name },
          'the MutatingWebhookConfiguration does not exist: pods are not sent to the injector until it is installed (the chart creates it); retrying',
        );
        this.missingReported = true;
      }
      return 'missing';
    }
    this.missingReported = false;
    const patch = caBundlePatch(configuration, this.options.bundlePem());
    if (patch.length === 0) return 'current';
    await client.patch(name, patch);
    this.log.info(
      { webhookConfiguration: name, webhooks: patch.length / 2 },
      'caBundle of the webhook configuration updated',
    );
    return 'patched';
  }
}
