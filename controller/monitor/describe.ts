// One-line human descriptions of detections, shared by the log, Kubernetes Events and webhooks.
import type { Detection, DetectionKind } from './detectors.ts';

const WHAT: Record<DetectionKind, string> = {
  'denial-spike': 'denials',
  'token-spread': 'source addresses using one token',
  'token-countries': 'countries using one token',
  'bad-tokens': 'expired or forged tokens',
  'idp-credential-stuffing': 'credential stuffing',
  'idp-impossible-travel': 'impossible travel',
};

/** The Kubernetes Event reason of each kind (UpperCamelCase, as Events expect). */
export const EVENT_REASON: Record<DetectionKind, string> = {
  'denial-spike': 'DenialSpike',
  'token-spread': 'TokenSpread',
  'token-countries': 'TokenCountries',
  'bad-tokens': 'BadTokens',
  'idp-credential-stuffing': 'IdpCredentialStuffing',
  'idp-impossible-travel': 'IdpImpossibleTravel',
};

const MAX_MESSAGE = 1024;

export function describeDetection(detection: Detection): string {
  const { kind, subject, count, threshold, windowMs, firstMs, lastMs } = detection;
  const text = kind.startsWith('idp-')
    ? `the identity provider reported ${WHAT[kind]} for ${subject.type} ${JSON.stringify(subject.value)} ` +
      `at ${new Date(lastMs).toISOString()}`
    : `${count} ${WHAT[kind]} for ${subject.type} ${JSON.stringify(subject.value)} ` +
      `from ${new Date(firstMs).toISOString()} to ${new Date(lastMs).toISOString()} ` +
      `(threshold ${threshold} in ${Math.round(windowMs / 1000)}s)`;
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}
