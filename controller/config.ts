// The controller's configuration, read from the environment in this one place.
import { hostname } from 'node:os';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import { parseTrustDomain } from '../lib/spiffe.ts';

export interface ControllerConfig {
  trustDomain: string;
  /** The control plane's namespace (its CA Secret and Lease). */
  namespace: string;
  /** This replica's name, unique among replicas (the pod name). */
  identity: string;
  /** A kubeconfig path; unset means in-cluster. */
  kubeconfig?: string;
  grpcPort: number;
  defaultAction: 'ALLOW' | 'DENY';
  rootNamespace: string;
}

function invalid(message: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message);
}

export function loadControllerConfig(env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const defaultAction = env.LANYARD_DEFAULT_ACTION ?? 'ALLOW';
  if (defaultAction !== 'ALLOW' && defaultAction !== 'DENY') {
    invalid(`LANYARD_DEFAULT_ACTION must be ALLOW or DENY, not "${defaultAction}"`);
  }
  const grpcPort = Number(env.LANYARD_GRPC_PORT ?? 15012);
  if (!Number.isInteger(grpcPort) || grpcPort < 1 || grpcPort > 65535)
    invalid('LANYARD_GRPC_PORT must be a port');
  const namespace = env.POD_NAMESPACE ?? env.LANYARD_NAMESPACE ?? 'lanyard-system';
  return {
    trustDomain: parseTrustDomain(env.LANYARD_TRUST_DOMAIN ?? 'cluster.local'),
    namespace,
    identity: env.POD_NAME ?? hostname(),
    ...(env.KUBECONFIG ? { kubeconfig: env.KUBECONFIG } : {}),
    grpcPort,
    defaultAction,
    rootNamespace: env.LANYARD_ROOT_NAMESPACE ?? namespace,
  };
}
