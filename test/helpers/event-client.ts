// A raw EventService client for tests: mTLS with a given SVID, batches in, Acks out.
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadEventsProto, type BatchAckReceived, type EventBatchMessage } from '../../proto/load-events.ts';
import type { PemPair } from './pki.ts';

export interface EventStream {
  call: ClientDuplexStream<EventBatchMessage, BatchAckReceived>;
  acks: BatchAckReceived[];
  /** Resolves with the stream's error, or undefined when it ended cleanly. */
  done: Promise<{ code: number; details: string } | undefined>;
  close(): void;
}

export function openEventStream(address: string, rootsPem: string, identity?: PemPair): EventStream {
  const { EventService } = loadEventsProto();
  const creds = credentials.createSsl(
    Buffer.from(rootsPem),
    identity ? Buffer.from(identity.keyPem) : null,
    identity ? Buffer.from(identity.certPem) : null,
    // The test server is identified by a SPIFFE ID, not a DNS name; the chain is still verified.
    { checkServerIdentity: () => undefined },
  );
  const client = new EventService(address, creds, {
    'grpc.ssl_target_name_override': 'lanyard-control-plane',
  });
  const call = client.Report();
  const acks: BatchAckReceived[] = [];
  call.on('data', (ack: BatchAckReceived) => acks.push(ack));
  const done = new Promise<{ code: number; details: string } | undefined>((resolve) => {
    call.on('error', (error: { code: number; details: string }) =>
      resolve({ code: error.code, details: error.details }),
    );
    call.on('end', () => resolve(undefined));
  });
  return {
    call,
    acks,
    done,
    close: () => {
      call.end();
      client.close();
    },
  };
}
