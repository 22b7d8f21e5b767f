// The assessment and the text of `lanyard status`, from objects already read from the cluster.
// Pure: no I/O, the clock comes in as `now`, so every verdict is unit-tested without a cluster.
import { X509Certificate } from 'node:crypto';
import type { V1ConfigMap, V1Lease, V1MutatingWebhookConfiguration, V1Pod } from '@kubernetes/client-node';
import type { AuthPolicyStatus } from '../lib/policy/types.generated.ts';

export const ROOTS_CONFIGMAP = 'lanyard-roots';
export const ROOTS_KEY = 'roots.pem';
export const LEASE_NAME = 'lanyard-controller';
export const INJECT_SELECTOR = 'lanyard.dev/inject=enabled';
export const CONTROLLER_SELECTOR = 'app.kubernetes.io/name=lanyard,app.kubernetes.io/component=controller';
/** The chart's MutatingWebhookConfiguration (controller env LANYARD_WEBHOOK_CONFIG_NAME). */
export const WEBHOOK_CONFIG = 'lanyard-injector';

/** A root expiring sooner than this is a problem: rotation should have replaced it long before. */
export const ROOT_WARNING_DAYS = 30;
/** Bounds on what the report reads and prints; the cluster's content is not trusted to be small. */
export const MAX_ROOTS_BYTES = 1024 * 1024;
export const MAX_ROOTS = 100;
export const MAX_LISTED = 50;
const MAX_TEXT = 300;
const DAY_MS = 24 * 3600_000;

export interface PolicyObject {
  metadata?: { namespace?: string; name?: string };
  status?: AuthPolicyStatus;
}

/** What the Kubernetes reads found; `undefined` means the object (or the CRD) does not exist. */
export interface StatusSnapshot {
  namespace: string;
  server: string;
  pods: readonly V1Pod[];
  lease: V1Lease | undefined;
  roots: V1ConfigMap | undefined;
  injectedNamespaces: readonly string[];
  policies: readonly PolicyObject[] | undefined;
  /** The injection webhook configuration: absent, unreadable with these credentials, or read. */
  webhook: {
    name: string;
    config: V1MutatingWebhookConfiguration | undefined | 'forbidden';
  };
}

export type Level = 'ok' | 'info' | 'warn' | 'fail';

export interface Finding {
  level: Level;
  text: string;
  /** Indented lines under the finding. */
  details?: string[];
  /** How many problems a warn or fail finding stands for; default 1. */
  count?: number;
}

export interface Section {
  title: string;
  findings: Finding[];
}

export interface StatusReport {
  header: string;
  sections: Section[];
  /** Findings at level warn or fail. */
  problems: number;
}

/**
 * Text from the cluster, made safe to print: control characters (terminal escapes included)
 * become spaces, and it is cut to a bounded length.
 */
export function printable(text: string, max = MAX_TEXT): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function plural(count: number, word: string, words = `${word}s`): string {
  return `${count} ${count === 1 ? word : words}`;
}

function ago(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

function listed<T>(items: readonly T[], show: (item: T) => string): string[] {
  const lines = items.slice(0, MAX_LISTED).map(show);
  if (items.length > MAX_LISTED) lines.push(`… and ${items.length - MAX_LISTED} more`);
  return lines;
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function podState(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp) return 'terminating';
  const waiting = pod.status?.containerStatuses?.find((s) => s.state?.waiting?.reason)?.state?.waiting
    ?.reason;
  const restarts = (pod.status?.containerStatuses ?? []).reduce((sum, s) => sum + (s.restartCount ?? 0), 0);
  return [
    pod.status?.phase ?? 'Unknown',
    isReady(pod) ? 'ready' : 'not ready',
    ...(waiting ? [printable(waiting, 60)] : []),
    plural(restarts, 'restart'),
  ].join(', ');
}

function controllerFindings(snapshot: StatusSnapshot): Finding[] {
  // A pod being deleted during a rollout is expected to be unready; it does not count.
  const pods = snapshot.pods.filter((p) => !p.metadata?.deletionTimestamp);
  const details = listed(snapshot.pods, (p) => `${printable(p.metadata?.name ?? '?', 100)}: ${podState(p)}`);
  if (pods.length === 0) {
    return [
      {
        level: 'fail',
        text: `no controller pods in namespace ${snapshot.namespace} (labels ${CONTROLLER_SELECTOR}): is Lanyard installed there? (--namespace)`,
        ...(details.length > 0 ? { details } : {}),
      },
    ];
  }
  const ready = pods.filter(isReady).length;
  return [
    {
      level: ready === pods.length ? 'ok' : 'fail',
      text: `${ready}/${pods.length} controller pods ready`,
      details,
    },
  ];
}

function leaderFinding(snapshot: StatusSnapshot, now: number): Finding {
  const lease = snapshot.lease;
  if (!lease) {
    return {
      level: 'fail',
      text: `no leader: the Lease ${LEASE_NAME} does not exist, so no replica writes AuthPolicy status`,
    };
  }
  const holder = printable(lease.spec?.holderIdentity ?? '', 100);
  if (holder === '') return { level: 'fail', text: `no leader: the Lease ${LEASE_NAME} has no holder` };
  const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : Number.NaN;
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
  if (Number.isNaN(renewed)) return { level: 'fail', text: `no leader: ${holder} never renewed the Lease` };
  if (now - renewed > durationMs) {
    return {
      level: 'fail',
      text: `no leader: ${holder} last renewed the Lease ${ago(now - renewed)} ago and it lasts ${ago(durationMs)} (by this machine's clock)`,
    };
  }
  const known = snapshot.pods.some((p) => p.metadata?.name === lease.spec?.holderIdentity);
  return {
    level: 'ok',
    text: `leader: ${holder} (Lease renewed ${ago(now - renewed)} ago${known ? '' : '; not among the pods above'})`,
  };
}

export interface RootCertificate {
  subject: string;
  notAfter: Date;
  fingerprint256: string;
}

/** The certificates of a PEM bundle; throws with a message naming the bad block. */
export function parseRoots(pem: string): RootCertificate[] {
  if (Buffer.byteLength(pem) > MAX_ROOTS_BYTES) throw new Error(`larger than ${MAX_ROOTS_BYTES} bytes`);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('holds no PEM certificate');
  if (blocks.length > MAX_ROOTS)
    throw new Error(`holds ${blocks.length} certificates, more than ${MAX_ROOTS}`);
  return blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      throw new Error(`certificate ${i + 1} does not parse`);
    }
    return {
      subject: cert.subject.replaceAll('\n', ', '),
      notAfter: new Date(cert.validTo),
      fingerprint256: cert.fingerprint256,
    };
  });
}

function rootFindings(snapshot: StatusSnapshot, now: number): Finding[] {
  const where = `ConfigMap ${snapshot.namespace}/${ROOTS_CONFIGMAP}`;
  if (!snapshot.roots) {
    return [{ level: 'fail', text: `${where} not found: the controller has not published the trust bundle` }];
  }
  const pem = snapshot.roots.data?.[ROOTS_KEY];
  if (!pem) return [{ level: 'fail', text: `${where} has no key ${ROOTS_KEY}` }];
  let roots: RootCertificate[];
  try {
    roots = parseRoots(pem);
  } catch (error) {
    return [{ level: 'fail', text: `${where}: ${ROOTS_KEY} ${(error as Error).message}` }];
  }
  return roots.map((root) => {
    const left = root.notAfter.getTime() - now;
    const days = Math.floor(left / DAY_MS);
    const subject = printable(root.subject, 200);
    const date = root.notAfter.toISOString().slice(0, 10);
    if (left <= 0) return { level: 'fail', text: `${subject}: expired on ${date}` };
    if (days < ROOT_WARNING_DAYS) {
      return {
        level: 'warn',
        text: `${subject}: expires on ${date}, in ${plural(days, 'day')} (under ${ROOT_WARNING_DAYS}): rotate the root`,
      };
    }
    return { level: 'ok', text: `${subject}: expires on ${date} (${plural(days, 'day')} left)` };
  });
}

const fingerprints = (certs: readonly RootCertificate[]) =>
  certs
    .map((c) => c.fingerprint256)
    .sort()
    .join(',');

/**
 * The API server verifies the webhook's serving certificate with each webhook's caBundle: a
 * missing or stale one makes every pod creation in an injected namespace fail (or go without a
 * sidecar, under failurePolicy Ignore). The leader keeps it equal to the published roots.
 */
function webhookFindings(snapshot: StatusSnapshot): Finding[] {
  const { name, config } = snapshot.webhook;
  const what = `MutatingWebhookConfiguration ${printable(name, 100)}`;
  if (config === 'forbidden') {
    return [{ level: 'info', text: `${what}: not readable with these credentials, not checked` }];
  }
  if (!config) {
    return [
      {
        level: 'fail',
        text: `${what} not found: no pod gets a sidecar (install the chart, or pass --webhook-config)`,
      },
    ];
  }
  const webhooks = config.webhooks ?? [];
  if (webhooks.length === 0) return [{ level: 'fail', text: `${what} has no webhooks` }];
  let roots: RootCertificate[] | undefined;
  try {
    const pem = snapshot.roots?.data?.[ROOTS_KEY];
    roots = pem ? parseRoots(pem) : undefined;
  } catch {
    roots = undefined; // reported in the roots section
  }
  const findings: Finding[] = [];
  for (const webhook of webhooks.slice(0, MAX_LISTED)) {
    const label = printable(webhook.name, 100);
    const encoded = webhook.clientConfig.caBundle;
    if (!encoded) {
      findings.push({
        level: 'fail',
        text: `${label}: no caBundle: the controller's leader has not patched it yet (it retries every 30 s)`,
      });
      continue;
    }
    let bundle: RootCertificate[];
    try {
      bundle = parseRoots(Buffer.from(encoded, 'base64').toString('utf8'));
    } catch (error) {
      findings.push({ level: 'fail', text: `${label}: caBundle ${(error as Error).message}` });
      continue;
    }
    if (roots && fingerprints(bundle) !== fingerprints(roots)) {
      findings.push({
        level: 'fail',
        text: `${label}: caBundle differs from ${ROOTS_CONFIGMAP}: the API server may refuse the webhook's certificate (the leader repairs it within 30 s)`,
      });
      continue;
    }
    findings.push({
      level: 'ok',
      text: `${label}: caBundle ${roots ? 'matches the published roots' : `holds ${plural(bundle.length, 'certificate')}`}, failurePolicy ${printable(webhook.failurePolicy ?? 'Fail', 20)}`,
    });
  }
  return findings;
}

function namespaceFindings(snapshot: StatusSnapshot): Finding[] {
  const names = [...snapshot.injectedNamespaces].sort();
  if (names.length === 0) {
    return [
      {
        level: 'info',
        text: 'none yet: kubectl label namespace <namespace> lanyard.dev/inject=enabled',
      },
    ];
  }
  return [
    {
      level: 'info',
      text: plural(names.length, 'namespace'),
      details: listed(names, (n) => printable(n, 100)),
    },
  ];
}

/** Whether a policy's Accepted condition is True; with the reason and message when it is not. */
export function acceptance(
  policy: PolicyObject,
): { accepted: true } | { accepted: false; reason: string; message: string } {
  const accepted = policy.status?.conditions?.find((c) => c.type === 'Accepted');
  if (!accepted) {
    return { accepted: false, reason: 'NoStatus', message: 'the controller has not written a status yet' };
  }
  if (accepted.status === 'True') return { accepted: true };
  return { accepted: false, reason: accepted.reason || accepted.status, message: accepted.message || '' };
}

function policyFindings(snapshot: StatusSnapshot): Finding[] {
  if (!snapshot.policies) {
    return [
      {
        level: 'fail',
        text: 'the AuthPolicy CRD is not installed: helm upgrade --install lanyard-crds charts/lanyard-crds',
      },
    ];
  }
  const refused = snapshot.policies
    .map((policy) => ({ policy, verdict: acceptance(policy) }))
    .filter((entry) => !entry.verdict.accepted)
    .sort((a, b) => key(a.policy).localeCompare(key(b.policy)));
  const total = snapshot.policies.length;
  if (refused.length === 0) {
    return [
      {
        level: 'ok',
        text:
          total === 0 ? 'no AuthPolicies' : `${plural(total, 'AuthPolicy', 'AuthPolicies')}, all accepted`,
      },
    ];
  }
  const findings: Finding[] = refused.slice(0, MAX_LISTED).map(({ policy, verdict }) => {
    const { reason, message } = verdict as { reason: string; message: string };
    return {
      level: 'fail',
      text: `${printable(key(policy), 200)} not accepted: ${printable(reason, 60)}${message ? `: ${printable(message)}` : ''}`,
    };
  });
  if (refused.length > MAX_LISTED) {
    const more = refused.length - MAX_LISTED;
    findings.push({ level: 'fail', text: `… and ${more} more not accepted`, count: more });
  }
  findings.unshift({
    level: 'info',
    text: `${refused.length} of ${plural(total, 'AuthPolicy', 'AuthPolicies')} not accepted (kubectl describe authpolicy -n <namespace> <name>)`,
  });
  return findings;
}

function key(policy: PolicyObject): string {
  return `${policy.metadata?.namespace ?? '?'}/${policy.metadata?.name ?? '?'}`;
}

export function assessStatus(snapshot: StatusSnapshot, now: number): StatusReport {
  const sections: Section[] = [
    {
      title: 'Control plane',
      findings: [...controllerFindings(snapshot), leaderFinding(snapshot, now)],
    },
    {
      title: `CA roots (ConfigMap ${ROOTS_CONFIGMAP}, key ${ROOTS_KEY})`,
      findings: rootFindings(snapshot, now),
    },
    { title: 'Injection webhook', findings: webhookFindings(snapshot) },
    { title: `Injected namespaces (${INJECT_SELECTOR})`, findings: namespaceFindings(snapshot) },
    { title: 'AuthPolicies', findings: policyFindings(snapshot) },
  ];
  const problems = sections
    .flatMap((s) => s.findings)
    .reduce((sum, f) => sum + (f.level === 'warn' || f.level === 'fail' ? (f.count ?? 1) : 0), 0);
  return {
    header: `Lanyard in namespace ${snapshot.namespace} (${printable(snapshot.server, 200)})`,
    sections,
    problems,
  };
}

const MARKS: Record<Level, string> = { ok: 'ok  ', info: '    ', warn: 'WARN', fail: 'FAIL' };

export function formatReport(report: StatusReport): string {
  const lines = [report.header, ''];
  for (const section of report.sections) {
    lines.push(section.title);
    for (const finding of section.findings) {
      lines.push(`  ${MARKS[finding.level]}  ${finding.text}`);
      for (const detail of finding.details ?? []) lines.push(`          ${detail}`);
    }
    lines.push('');
  }
  lines.push(report.problems === 0 ? 'Healthy.' : `${plural(report.problems, 'problem')} found.`);
  return `${lines.join('\n')}\n`;
}
