import { schema } from './generated/schema/policy.ts';
import { grpcService } from './service.ts';
import type { ProtoGrpcType } from './generated/policy.ts';

export type {
  PolicyServiceClient,
  PolicyServiceHandlers,
} from './generated/lanyard/policy/v1/PolicyService.ts';
export type { PolicySnapshot__Output as PolicySnapshotMessage } from './generated/lanyard/policy/v1/PolicySnapshot.ts';
export type { WatchRequest__Output as WatchRequestMessage } from './generated/lanyard/policy/v1/WatchRequest.ts';

type Package = ProtoGrpcType['lanyard']['policy']['v1'];
let service: Package['PolicyService'] | undefined;

/** PolicyService's client constructor, with its service definition as `.service` (made once). */
export function loadPolicyProto(): Pick<Package, 'PolicyService'> {
  // The generated ProtoGrpcType describes this constructor; its definition lacks only the
  // message descriptors (requestType, responseType) that nothing here reads.
  service ??= grpcService(schema, 'lanyard.policy.v1.PolicyService') as unknown as Package['PolicyService'];
  return { PolicyService: service };
}
