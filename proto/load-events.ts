import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from './generated/events.ts';

export type { EventServiceClient, EventServiceHandlers } from './generated/lanyard/events/v1/EventService.ts';
export type {
  EventBatch as EventBatchMessage,
  EventBatch__Output as EventBatchReceived,
} from './generated/lanyard/events/v1/EventBatch.ts';
export type {
  DecisionEvent as DecisionEventMessage,
  DecisionEvent__Output as DecisionEventReceived,
} from './generated/lanyard/events/v1/DecisionEvent.ts';
export type {
  BatchAck as BatchAckMessage,
  BatchAck__Output as BatchAckReceived,
} from './generated/lanyard/events/v1/BatchAck.ts';

/** Must match proto/generate.sh, so that the generated types match what is loaded. */
const LOADER_OPTIONS = { keepCase: false, longs: Number, defaults: true, arrays: true } as const;

/** The lanyard.events.v1 package: EventService's client constructor and service definition. */
export function loadEventsProto(): ProtoGrpcType['lanyard']['events']['v1'] {
  const definition = loadSync(fileURLToPath(new URL('./events.proto', import.meta.url)), LOADER_OPTIONS);
  return (loadPackageDefinition(definition) as unknown as ProtoGrpcType).lanyard.events.v1;
}
