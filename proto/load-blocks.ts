import { schema } from './generated/schema/blocks.ts';
import { grpcService } from './service.ts';
import type { ProtoGrpcType } from './generated/blocks.ts';

export type { BlockServiceClient, BlockServiceHandlers } from './generated/lanyard/blocks/v1/BlockService.ts';
export type {
  BlockSnapshot as BlockSnapshotMessage,
  BlockSnapshot__Output as BlockSnapshotReceived,
} from './generated/lanyard/blocks/v1/BlockSnapshot.ts';
export type { Block__Output as BlockReceived } from './generated/lanyard/blocks/v1/Block.ts';
export type { WatchBlocksRequest__Output as WatchBlocksRequestReceived } from './generated/lanyard/blocks/v1/WatchBlocksRequest.ts';
export { BlockType as BLOCK_TYPE } from './generated/lanyard/blocks/v1/BlockType.ts';

/** The bounds of the contract, shared by the control plane that sends and the sidecar that checks. */
export const BLOCK_LIMITS = Object.freeze({
  /** Blocks in one snapshot (the control plane's block list holds at most this many). */
  maxBlocks: 10_000,
  maxIdLength: 253,
  maxVersionLength: 64,
  /** Longest value by type: a SPIFFE ID, a subject, a token id. */
  maxValueLength: Object.freeze({ principal: 2048, user: 256, token: 128 }),
});

/**
 * The largest snapshot message: 10 000 blocks of the longest id and value, with room for the
 * framing. gRPC's default of 4 MiB would refuse a full list of long SPIFFE IDs.
 */
export const MAX_BLOCK_SNAPSHOT_BYTES = 32 * 1024 * 1024;

type Package = ProtoGrpcType['lanyard']['blocks']['v1'];
let service: Package['BlockService'] | undefined;

/** BlockService's client constructor, with its service definition as `.service` (made once). */
export function loadBlocksProto(): Pick<Package, 'BlockService'> {
  // The generated ProtoGrpcType describes this constructor; its definition lacks only the
  // message descriptors (requestType, responseType) that nothing here reads.
  service ??= grpcService(schema, 'lanyard.blocks.v1.BlockService') as unknown as Package['BlockService'];
  return { BlockService: service };
}
