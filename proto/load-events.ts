import { schema } from './generated/schema/events.ts';
import { grpcService } from './service.ts';
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

type Package = ProtoGrpcType['lanyard']['events']['v1'];
let service: Package['EventService'] | undefined;

/** EventService's client constructor, with its service definition as `.service` (made once). */
export function loadEventsProto(): Pick<Package, 'EventService'> {
  // The generated ProtoGrpcType describes this constructor; its definition lacks only the
  // message descriptors (requestType, responseType) that nothing here reads.
  service ??= grpcService(schema, 'lanyard.events.v1.EventService') as unknown as Package['EventService'];
  return { EventService: service };
}
