// Reads the recorded event streams of test/fixtures/monitor and turns their events into what the
// control plane receives from the wire (enum numbers, empty defaults).
import { readFileSync } from 'node:fs';
import { Decision } from '../../proto/generated/lanyard/events/v1/Decision.ts';
import { TokenFailure } from '../../proto/generated/lanyard/events/v1/TokenFailure.ts';
import type { DecisionEventReceived } from '../../proto/load-events.ts';
import type { RecordedEvent } from '../fixtures/monitor/generate.ts';

export function readRecorded(name: string): RecordedEvent[] {
  const text = readFileSync(new URL(`../fixtures/monitor/${name}`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as RecordedEvent);
}

export function readCountryTable(): string {
  return readFileSync(new URL('../fixtures/monitor/countries.csv', import.meta.url), 'utf8');
}

export function toReceived(event: RecordedEvent['event']): DecisionEventReceived {
  return {
    timeUnixMs: event.timeUnixMs,
    peerId: event.peerId ?? '',
    userSubject: event.userSubject ?? '',
    userIssuer: event.userIssuer ?? '',
    tokenId: event.tokenId ?? '',
    method: event.method,
    path: event.path,
    decision: Decision[event.decision],
    reason: event.reason,
    policy: event.policy ?? '',
    rule: event.rule ?? '',
    sourceAddress: event.sourceAddress ?? '',
    latencyMs: event.latencyMs,
    httpStatus: event.httpStatus,
    tokenFailure: event.tokenFailure ? TokenFailure[event.tokenFailure as keyof typeof TokenFailure] : 0,
  };
}
