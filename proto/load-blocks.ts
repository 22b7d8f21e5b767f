import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
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

/** Must match proto/generate.sh, so that the generated types match what is loaded. */
const LOADER_OPTIONS = { keepCase: false, longs: Number, defaults: true, arrays: true } as const;

/** The lanyard.blocks.v1 package: BlockService's client constructor and service definition. */
export function loadBlocksProto(): ProtoGrpcType['lanyard']['blocks']['v1'] {
  const definition = loadSync(fileURLToPath(new URL('./blocks.proto', import.meta.url)), LOADER_OPTIONS);
  return (loadPackageDefinition(definition) as unknown as ProtoGrpcType).lanyard.blocks.v1;
}
