import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from './generated/policy.ts';

export type {
  PolicyServiceClient,
  PolicyServiceHandlers,
} from './generated/lanyard/policy/v1/PolicyService.ts';
export type { PolicySnapshot__Output as PolicySnapshotMessage } from './generated/lanyard/policy/v1/PolicySnapshot.ts';
export type { WatchRequest__Output as WatchRequestMessage } from './generated/lanyard/policy/v1/WatchRequest.ts';

/** Must match proto/generate.sh, so that the generated types match what is loaded. */
const LOADER_OPTIONS = { keepCase: false, longs: Number, defaults: true, arrays: true } as const;

/** The lanyard.policy.v1 package: PolicyService's client constructor and service definition. */
export function loadPolicyProto(): ProtoGrpcType['lanyard']['policy']['v1'] {
  const definition = loadSync(fileURLToPath(new URL('./policy.proto', import.meta.url)), LOADER_OPTIONS);
  return (loadPackageDefinition(definition) as unknown as ProtoGrpcType).lanyard.policy.v1;
}
