import type { WorkloadIdentity } from '../lib/spiffe.ts';
import { caError } from './errors.ts';

/** Turns a caller's credential into the identity it proves. Throws a CaError when it proves none. */
export interface Attestor {
  attest(credential: string): Promise<WorkloadIdentity>;
}

/**
 * Which namespaces and ServiceAccounts may get identities. Deny wins; a non-empty allow list
 * admits only what it names. ServiceAccounts are written "namespace/name".
 */
export interface IdentityPolicy {
  readonly allowNamespaces?: readonly string[];
  readonly denyNamespaces?: readonly string[];
  readonly allowServiceAccounts?: readonly string[];
  readonly denyServiceAccounts?: readonly string[];
}

export function checkIdentityPolicy(policy: IdentityPolicy, identity: WorkloadIdentity): void {
  const account = `${identity.namespace}/${identity.serviceAccount}`;
  const denied =
    policy.denyNamespaces?.includes(identity.namespace) ||
    policy.denyServiceAccounts?.includes(account) ||
    (policy.allowNamespaces?.length && !policy.allowNamespaces.includes(identity.namespace)) ||
    (policy.allowServiceAccounts?.length && !policy.allowServiceAccounts.includes(account));
  if (denied) {
    throw caError('ERR_CA_PERMISSION_DENIED', 'this workload may not get an identity from this CA', {
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
    });
  }
}
