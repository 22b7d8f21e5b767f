// The sidecar's gRPC channel credentials towards the control plane: mTLS with the current SVID,
// and the server recognised by its SPIFFE ID, not by a DNS name.
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { verifyPeer } from '../lib/peer.ts';
import type { TlsMaterial } from './listener.ts';

/** The name every control-plane channel claims for TLS; the SPIFFE ID check replaces it. */
export const CONTROL_PLANE_TARGET_NAME = 'lanyard-control-plane';

export function controlPlaneCredentials(
  material: TlsMaterial,
  trustDomain: string,
  serverId: string,
): ChannelCredentials {
  return credentials.createSsl(
    Buffer.from(material.bundlePem),
    Buffer.from(material.keyPem),
    Buffer.from(material.certChainPem),
    {
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const verdict = verifyPeer(new X509Certificate(cert.raw), {
          trustDomains: new Set([trustDomain]),
          role: 'server',
          expectedId: serverId,
        });
        return verdict.ok ? undefined : new Error(verdict.reason);
      },
    },
  );
}

/** Where a sidecar's control-plane client connects, and with which SVID. */
export interface ControlPlaneTarget {
  /** host:port of the control plane's gRPC endpoint. */
  address: string;
  /** The SPIFFE ID the control plane must present. */
  serverId: string;
  trustDomain: string;
  /** The current SVID and bundle, read for each new channel. */
  tls: () => TlsMaterial;
}

type ServiceClientClass<Client> = new (
  address: string,
  credentials: ChannelCredentials,
  options: Partial<ChannelOptions>,
) => Client;

/** A client of `Service` on a new channel to the control plane, with the current SVID. */
export function controlPlaneClient<Client>(
  Service: ServiceClientClass<Client>,
  target: ControlPlaneTarget,
  channelOptions: Partial<ChannelOptions> = {},
): Client {
  return new Service(
    target.address,
    controlPlaneCredentials(target.tls(), target.trustDomain, target.serverId),
    {
      'grpc.ssl_target_name_override': CONTROL_PLANE_TARGET_NAME,
      ...channelOptions,
    },
  );
}
