// Workloads on the real test cluster, as the mesh sees them: Pod objects (no kubelet runs them)
// with ServiceAccount tokens bound to them, and caller certificates issued by the running control
// plane's own CA (its key, read from the Secret it keeps, through the CA's real issuance code).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority } from '../../ca/certificate-authority.ts';
import { Keyring } from '../../ca/keyring.ts';
import { SecretKeyStore } from '../../ca/secret-keystore.ts';
import { DEFAULT_TTL_POLICY } from '../../ca/ttl.ts';
import { DEFAULT_ROTATION } from '../../controller/control-plane.ts';
import { systemClock } from '../../lib/clock.ts';
import { parseSpiffeId, workloadIdentityOf } from '../../lib/spiffe.ts';
import { kubeSecretClient } from '../../kube/secrets.ts';
import { p256Csr } from './csr.ts';
import { certificatePem } from '../../lib/pem.ts';

export interface PodSpec {
  namespace: string;
  name: string;
  serviceAccount: string;
  labels: Record<string, string>;
}

/** Creates the Pod object (its ServiceAccount must exist); returns its uid. */
export async function createPod(core: CoreV1Api, pod: PodSpec): Promise<string> {
  const created = await core.createNamespacedPod({
    namespace: pod.namespace,
    body: {
      metadata: { name: pod.name, labels: pod.labels },
      spec: {
        serviceAccountName: pod.serviceAccount,
        containers: [{ name: 'app', image: 'example.invalid/app:1' }],
      },
    },
  });
  return created.metadata!.uid!;
}

/** A TokenRequest token (audience lanyard-ca) bound to the pod, written to a 0600 file. */
export async function podTokenFile(core: CoreV1Api, pod: PodSpec, uid: string, dir: string): Promise<string> {
  const issued = await core.createNamespacedServiceAccountToken({
    name: pod.serviceAccount,
    namespace: pod.namespace,
    body: {
      spec: {
        audiences: ['lanyard-ca'],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid },
      },
    },
  });
  const file = join(dir, `${pod.namespace}.${pod.name}.token`);
  writeFileSync(file, issued.status!.token, { mode: 0o600 });
  return file;
}

export interface IssuedSvid {
  spiffeId: string;
  /** The leaf, then any intermediates. */
  certChainPem: string;
  keyPem: string;
}

export interface MeshCa {
  rootsPem: string;
  /** An X.509-SVID for any workload ID of the trust domain, as the CA would issue it. */
  issue(spiffeId: string): IssuedSvid;
}

/** Opens the CA of a control plane running in `namespace` (its Secret must exist). */
export async function openMeshCa(
  kc: KubeConfig,
  namespace: string,
  trustDomain = 'cluster.local',
): Promise<MeshCa> {
  const store = new SecretKeyStore(kubeSecretClient(kc), namespace, 'lanyard-ca');
  if (!(await store.load())) throw new Error(`no CA Secret in ${namespace}: start the control plane first`);
  const keyring = await Keyring.open({ store, trustDomain, clock: systemClock, rotation: DEFAULT_ROTATION });
  const ca = new CertificateAuthority({
    keyring,
    clock: systemClock,
    ttl: DEFAULT_TTL_POLICY,
    jwtIssuer: `https://lanyard.${trustDomain}`,
  });
  return {
    rootsPem: keyring.bundle().rootPems.join(''),
    issue(spiffeId) {
      const identity = workloadIdentityOf(parseSpiffeId(spiffeId));
      if (!identity) throw new TypeError(`${spiffeId} is not a workload SPIFFE ID`);
      const { csr, privateKey } = p256Csr();
      const issued = ca.issueX509Svid({ csr, identity });
      return {
        spiffeId: issued.spiffeId,
        certChainPem: issued.chain.map(certificatePem).join(''),
        keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      };
    },
  };
}
