import {
  V1MicroTime,
  type V1Lease,
  type V1MutatingWebhookConfiguration,
  type V1Pod,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateAuthority } from '../ca/authority.ts';
import {
  MAX_LISTED,
  assessStatus,
  formatReport,
  parseRoots,
  printable,
  type PolicyObject,
  type StatusSnapshot,
} from './status-report.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const DAY = 24 * 3600_000;
let rootPem: string; // valid for a year from NOW
let soonPem: string; // expires 10 days after NOW
let expiredPem: string; // expired 2 days before NOW

beforeAll(async () => {
  const make = async (validForMs: number, at = NOW) =>
    (
      await generateAuthority({
        trustDomain: 'cluster.local',
        clock: { now: () => at },
        rootValidityMs: validForMs,
      })
    ).rootPem;
  [rootPem, soonPem, expiredPem] = await Promise.all([
    make(365 * DAY),
    make(10 * DAY + 3600_000),
    make(DAY, NOW - 3 * DAY),
  ]);
});

function pod(name: string, ready: boolean, extra: Partial<V1Pod> = {}): V1Pod {
  return {
    metadata: { name },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          name: 'controller',
          image: 'lanyard',
          imageID: '',
          ready,
          restartCount: ready ? 0 : 3,
          ...(ready ? {} : { state: { waiting: { reason: 'CrashLoopBackOff' } } }),
        },
      ],
    },
    ...extra,
  };
}

function lease(holder: string, renewedAgoMs: number, durationSeconds = 15): V1Lease {
  return {
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: durationSeconds,
      renewTime: new V1MicroTime(NOW - renewedAgoMs),
    },
  };
}

function policy(
  namespace: string,
  name: string,
  accepted?: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string },
): PolicyObject {
  return {
    metadata: { namespace, name },
    ...(accepted
      ? {
          status: {
            conditions: [{ type: 'Accepted', lastTransitionTime: '2026-11-29T11:00:00Z', ...accepted }],
          },
        }
      : {}),
  };
}

const accepted = { status: 'True', reason: 'Accepted', message: 'the policy is valid' } as const;

/** The chart's two webhooks, each with `bundles[i]` (PEM) as its caBundle, or none. */
function webhookConfig(...bundles: (string | undefined)[]): V1MutatingWebhookConfiguration {
  return {
    metadata: { name: 'lanyard-injector' },
    webhooks: bundles.map((pem, i) => ({
      name: `${i === 0 ? 'namespace' : 'object'}.inject.lanyard.dev`,
      clientConfig: {
        service: { namespace: 'lanyard-system', name: 'lanyard-webhook' },
        ...(pem ? { caBundle: Buffer.from(pem).toString('base64') } : {}),
      },
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
    })),
  };
}

function healthy(): StatusSnapshot {
  return {
    namespace: 'lanyard-system',
    server: 'https://127.0.0.1:6443',
    pods: [pod('lanyard-controller-a', true), pod('lanyard-controller-b', true)],
    lease: lease('lanyard-controller-a', 3_000),
    roots: { data: { 'roots.pem': rootPem } },
    injectedNamespaces: ['shop', 'payments'],
    policies: [policy('shop', 'orders', accepted), policy('payments', 'refunds', accepted)],
    webhook: { name: 'lanyard-injector', config: webhookConfig(rootPem, rootPem) },
  };
}

const report = (snapshot: StatusSnapshot) => assessStatus(snapshot, NOW);
const text = (snapshot: StatusSnapshot) => formatReport(report(snapshot));

describe('lanyard status report', () => {
  it('says healthy when the pods are ready, a leader holds the Lease, roots are far from expiry and every policy is accepted', () => {
    const r = report(healthy());
    expect(r.problems).toBe(0);
    const out = formatReport(r);
    expect(out).toContain('Lanyard in namespace lanyard-system (https://127.0.0.1:6443)');
    expect(out).toContain('ok    2/2 controller pods ready');
    expect(out).toContain('lanyard-controller-a: Running, ready, 0 restarts');
    expect(out).toContain('ok    leader: lanyard-controller-a (Lease renewed 3s ago)');
    expect(out).toMatch(
      /ok {4}O=Lanyard, OU=cluster\.local, CN=Lanyard root [0-9a-f]{8}: expires on 2027-11-29 \(365 days left\)/,
    );
    expect(out).toContain(
      'ok    namespace.inject.lanyard.dev: caBundle matches the published roots, failurePolicy Fail',
    );
    expect(out).toContain('ok    object.inject.lanyard.dev: caBundle matches the published roots');
    expect(out).toContain('2 namespaces');
    expect(out).toMatch(/ {10}payments\n {10}shop\n/);
    expect(out).toContain('ok    2 AuthPolicies, all accepted');
    expect(out.trimEnd().endsWith('Healthy.')).toBe(true);
  });

  it('fails on an unready controller pod, naming its state', () => {
    const snapshot = {
      ...healthy(),
      pods: [pod('lanyard-controller-a', true), pod('lanyard-controller-b', false)],
    };
    const r = report(snapshot);
    expect(r.problems).toBe(1);
    expect(formatReport(r)).toContain('FAIL  1/2 controller pods ready');
    expect(formatReport(r)).toContain(
      'lanyard-controller-b: Running, not ready, CrashLoopBackOff, 3 restarts',
    );
  });

  it('does not count a terminating pod of a rollout against readiness', () => {
    const leaving = pod('lanyard-controller-old', false, {});
    leaving.metadata = { ...leaving.metadata, deletionTimestamp: new Date(NOW) };
    const r = report({ ...healthy(), pods: [...healthy().pods, leaving] });
    expect(r.problems).toBe(0);
    expect(formatReport(r)).toContain('lanyard-controller-old: terminating');
  });

  it('fails when no controller pod exists, pointing at --namespace', () => {
    const out = text({ ...healthy(), pods: [], lease: undefined, namespace: 'elsewhere' });
    expect(out).toContain('FAIL  no controller pods in namespace elsewhere');
    expect(out).toContain('(--namespace)');
  });

  it.each([
    ['no Lease', undefined, 'no leader: the Lease lanyard-controller does not exist'],
    ['an empty holder', lease('', 1_000), 'no leader: the Lease lanyard-controller has no holder'],
    [
      'an expired Lease',
      lease('lanyard-controller-a', 60_000),
      "no leader: lanyard-controller-a last renewed the Lease 60s ago and it lasts 15s (by this machine's clock)",
    ],
  ])('fails with %s', (_name, theLease, message) => {
    const r = report({ ...healthy(), lease: theLease });
    expect(r.problems).toBe(1);
    expect(formatReport(r)).toContain(`FAIL  ${message}`);
  });

  it('notes a leader that is not among the listed pods', () => {
    const out = text({ ...healthy(), lease: lease('someone-else', 1_000) });
    expect(out).toContain('leader: someone-else (Lease renewed 1s ago; not among the pods above)');
  });

  it('warns about a root under 30 days and fails on an expired one, listing every root of the bundle', () => {
    const bundle = `${rootPem}${soonPem}${expiredPem}`;
    const r = report({
      ...healthy(),
      roots: { data: { 'roots.pem': bundle } },
      webhook: { name: 'lanyard-injector', config: webhookConfig(bundle, bundle) },
    });
    expect(r.problems).toBe(2);
    const out = formatReport(r);
    expect(out).toMatch(/ok {4}O=Lanyard.*\(365 days left\)/);
    expect(out).toMatch(
      /WARN {2}O=Lanyard.*: expires on 2026-12-09, in 10 days \(under 30\): rotate the root/,
    );
    expect(out).toMatch(/FAIL {2}O=Lanyard.*: expired on 2026-11-27/);
    expect(out).toContain('2 problems found.');
  });

  it.each([
    ['a missing ConfigMap', undefined, 'ConfigMap lanyard-system/lanyard-roots not found'],
    ['a missing key', { data: {} }, 'ConfigMap lanyard-system/lanyard-roots has no key roots.pem'],
    ['no certificate', { data: { 'roots.pem': 'hello' } }, 'roots.pem holds no PEM certificate'],
    [
      'a corrupt certificate',
      { data: { 'roots.pem': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } },
      'roots.pem certificate 1 does not parse',
    ],
  ])('fails on %s', (_name, roots, message) => {
    const r = report({ ...healthy(), roots });
    expect(r.problems).toBe(1);
    expect(formatReport(r)).toContain(message);
  });

  it('bounds the bundle it parses', () => {
    expect(() => parseRoots('x'.repeat(1024 * 1024 + 1))).toThrow(/larger than/);
    expect(() => parseRoots(rootPem.repeat(101))).toThrow('holds 101 certificates, more than 100');
    expect(parseRoots(rootPem.repeat(2))).toHaveLength(2);
  });

  it('lists the policies that are not accepted, with reason and message, and those without status', () => {
    const r = report({
      ...healthy(),
      policies: [
        policy('shop', 'orders', accepted),
        policy('shop', 'broken', {
          status: 'False',
          reason: 'Invalid',
          message: 'spec.rules[0].to[0].permission: unknown permission "wirte"',
        }),
        policy('ops', 'fresh'),
      ],
    });
    expect(r.problems).toBe(2);
    const out = formatReport(r);
    expect(out).toContain('2 of 3 AuthPolicies not accepted');
    expect(out).toContain(
      'FAIL  ops/fresh not accepted: NoStatus: the controller has not written a status yet',
    );
    expect(out).toContain(
      'FAIL  shop/broken not accepted: Invalid: spec.rules[0].to[0].permission: unknown permission "wirte"',
    );
    expect(out.indexOf('ops/fresh')).toBeLessThan(out.indexOf('shop/broken'));
  });

  it('counts every refused policy but prints a bounded list', () => {
    const many = Array.from({ length: MAX_LISTED + 7 }, (_, i) =>
      policy('ns', `p${String(i).padStart(3, '0')}`, { status: 'False', reason: 'Invalid', message: 'bad' }),
    );
    const r = report({ ...healthy(), policies: many });
    expect(r.problems).toBe(MAX_LISTED + 7);
    const out = formatReport(r);
    expect(out.match(/not accepted: Invalid/g)).toHaveLength(MAX_LISTED);
    expect(out).toContain('… and 7 more not accepted');
  });

  it('fails when the AuthPolicy CRD is missing, with the command that installs it', () => {
    expect(text({ ...healthy(), policies: undefined })).toContain(
      'FAIL  the AuthPolicy CRD is not installed: helm upgrade --install lanyard-crds charts/lanyard-crds',
    );
  });

  it('fails on a webhook without caBundle, with one that differs from the roots, and on one that does not parse', () => {
    const stale = report({
      ...healthy(),
      webhook: { name: 'lanyard-injector', config: webhookConfig(undefined, soonPem) },
    });
    expect(stale.problems).toBe(2);
    const out = formatReport(stale);
    expect(out).toContain(
      "FAIL  namespace.inject.lanyard.dev: no caBundle: the controller's leader has not patched it yet",
    );
    expect(out).toContain('FAIL  object.inject.lanyard.dev: caBundle differs from lanyard-roots');
    const broken = formatReport(
      report({ ...healthy(), webhook: { name: 'lanyard-injector', config: webhookConfig('junk', rootPem) } }),
    );
    expect(broken).toContain('FAIL  namespace.inject.lanyard.dev: caBundle holds no PEM certificate');
  });

  it('accepts a caBundle holding the same roots in another order (an A/B rotation)', () => {
    const both = `${rootPem}\n${soonPem}`;
    const r = report({
      ...healthy(),
      roots: { data: { 'roots.pem': both } },
      webhook: { name: 'lanyard-injector', config: webhookConfig(`${soonPem}\n${rootPem}`) },
    });
    expect(formatReport(r)).toContain(
      'ok    namespace.inject.lanyard.dev: caBundle matches the published roots',
    );
  });

  it('fails when the webhook configuration is missing, and only notes one it may not read', () => {
    const missing = report({ ...healthy(), webhook: { name: 'lanyard-injector', config: undefined } });
    expect(missing.problems).toBe(1);
    expect(formatReport(missing)).toContain(
      'FAIL  MutatingWebhookConfiguration lanyard-injector not found: no pod gets a sidecar',
    );
    const forbidden = report({ ...healthy(), webhook: { name: 'lanyard-injector', config: 'forbidden' } });
    expect(forbidden.problems).toBe(0);
    expect(formatReport(forbidden)).toContain(
      'MutatingWebhookConfiguration lanyard-injector: not readable with these credentials, not checked',
    );
  });

  it('suggests labelling a namespace when none is injected, without calling it a problem', () => {
    const r = report({ ...healthy(), injectedNamespaces: [] });
    expect(r.problems).toBe(0);
    expect(formatReport(r)).toContain(
      'none yet: kubectl label namespace <namespace> lanyard.dev/inject=enabled',
    );
  });

  it('never prints terminal escapes or unbounded text from the cluster', () => {
    expect(printable('\u001b[2Jboom\r\nnext\u009b')).toBe('[2Jboom next');
    expect(printable('x'.repeat(1000))).toHaveLength(300);
    const out = text({
      ...healthy(),
      policies: [
        policy('shop', 'evil', { status: 'False', reason: 'Invalid', message: '\u001b]0;pwned\u0007' }),
      ],
    });
    expect(out).not.toContain('\u001b');
    expect(out).toContain('shop/evil not accepted: Invalid: ]0;pwned');
  });
});
