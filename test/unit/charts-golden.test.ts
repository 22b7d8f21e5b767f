// The committed golden `helm template` output stays current, and the chart's webhook
// configuration is the one the controller's own builder describes.
import { readFileSync } from 'node:fs';
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  GOLDEN_NAMESPACE,
  UPDATE_COMMAND,
  goldenCases,
  goldenPath,
  pinnedHelm,
  renderGolden,
} from '../../charts/update-golden.ts';
import { injectionWebhookConfiguration } from '../../controller/inject/index.ts';

let helm: string;

beforeAll(async () => {
  helm = await pinnedHelm();
}, 3_600_000);

interface KubeObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  rules?: unknown[];
}

function objects(yaml: string): KubeObject[] {
  return parseAllDocuments(yaml)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

/** What the chart renders now for a golden case (not the committed file, which may be stale). */
async function rendered(name: string): Promise<KubeObject[]> {
  return objects(
    await renderGolden(
      helm,
      goldenCases.find((c) => c.name === name)!,
    ),
  );
}

describe('charts/golden', () => {
  it.each(goldenCases.map((c) => [c.name, c] as const))(
    '%s.yaml is what the chart renders',
    async (_name, goldenCase) => {
      const rendered = await renderGolden(helm, goldenCase);
      expect(readFileSync(goldenPath(goldenCase), 'utf8'), `stale golden file: run ${UPDATE_COMMAND}`).toBe(
        rendered,
      );
    },
    120_000,
  );

  it('holds the MutatingWebhookConfiguration that controller/inject/webhook-config.ts builds, caBundle left to the controller', async () => {
    const config = (await rendered('defaults')).find(
      (o) => o.kind === 'MutatingWebhookConfiguration',
    ) as V1MutatingWebhookConfiguration & KubeObject;
    const built = injectionWebhookConfiguration({
      clientConfig: { service: { namespace: GOLDEN_NAMESPACE, name: 'lanyard-webhook' } },
      caBundlePem: '',
      excludeNamespaces: [GOLDEN_NAMESPACE, 'kube-system'],
    });
    for (const webhook of built.webhooks ?? []) delete webhook.clientConfig.caBundle;
    expect(config.metadata.name).toBe(built.metadata?.name);
    expect(config.webhooks).toEqual(built.webhooks);
  }, 120_000);

  it('grants pods/eviction only in the eviction case, and no webhook access without injection', async () => {
    const [defaults, eviction, disabled] = await Promise.all(
      ['defaults', 'eviction', 'injection-disabled'].map(rendered),
    );
    const rules = (objects: KubeObject[]) =>
      JSON.stringify(objects.find((o) => o.kind === 'ClusterRole')?.rules ?? []);
    expect(rules(defaults!)).not.toContain('pods/eviction');
    expect(rules(eviction!)).toContain('pods/eviction');
    expect(rules(defaults!)).toContain('mutatingwebhookconfigurations');
    expect(rules(disabled!)).not.toContain('mutatingwebhookconfigurations');
    expect(disabled!.map((o) => o.kind)).not.toContain('MutatingWebhookConfiguration');
  }, 120_000);
});
