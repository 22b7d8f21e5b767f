// The desired status of an AuthPolicy, computed purely from the compile result and the
// cluster's pods. Conditions keep their lastTransitionTime while their status holds, so that
// a reconcile of an unchanged policy writes nothing.
import type { PolicyResult } from '../lib/policy/index.ts';
import type { AuthPolicyStatus, StatusCondition } from '../lib/policy/types.generated.ts';

export interface Delivery {
  /** Selected sidecars connected to this replica's policy stream. */
  connected: number;
  /** Of those, how many acknowledged a snapshot holding this generation. */
  acknowledged: number;
}

export interface StatusInput {
  generation: number;
  result: PolicyResult;
  selectedWorkloads: number;
  delivery?: Delivery;
  previous?: AuthPolicyStatus;
  /** The stored version is refused and the last accepted version stays in force. */
  retained?: boolean;
  now: string;
}

const MAX_MESSAGE = 1024;

function condition(
  input: StatusInput,
  type: string,
  status: StatusCondition['status'],
  reason: string,
  message: string,
): StatusCondition {
  const before = input.previous?.conditions?.find((c) => c.type === type);
  return {
    type,
    status,
    observedGeneration: input.generation,
    lastTransitionTime: before && before.status === status ? before.lastTransitionTime : input.now,
    reason,
    message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
  };
}

function readyCondition(input: StatusInput): StatusCondition {
  if (!input.result.accepted) {
    return condition(
      input,
      'Ready',
      'False',
      'NotAccepted',
      'the policy is not accepted, so no sidecar enforces it',
    );
  }
  if (input.selectedWorkloads === 0) {
    return condition(input, 'Ready', 'True', 'NoWorkloads', 'the policy selects no workloads');
  }
  const delivery = input.delivery;
  if (!delivery || delivery.connected === 0) {
    return condition(
      input,
      'Ready',
      'Unknown',
      'NoSidecarsConnected',
      'no selected sidecar is connected yet',
    );
  }
  if (delivery.acknowledged < delivery.connected) {
    return condition(
      input,
      'Ready',
      'False',
      'Pending',
      `${delivery.acknowledged} of ${delivery.connected} connected sidecars enforce this generation`,
    );
  }
  return condition(
    input,
    'Ready',
    'True',
    'Delivered',
    `enforced by ${delivery.connected} connected sidecars`,
  );
}

export function desiredStatus(input: StatusInput): AuthPolicyStatus {
  const { result } = input;
  const accepted = result.accepted
    ? condition(
        input,
        'Accepted',
        'True',
        'Accepted',
        result.warnings.length > 0
          ? `accepted with warnings: ${result.warnings.map((w) => w.message).join('; ')}`
          : 'the policy is valid',
      )
    : condition(
        input,
        'Accepted',
        'False',
        'Invalid',
        `${result.errors.map((e) => e.message).join('; ')}${
          input.retained ? '; the last accepted version of this policy stays in force' : ''
        }`,
      );
  return {
    observedGeneration: input.generation,
    selectedWorkloads: input.selectedWorkloads,
    conditions: [accepted, readyCondition(input)],
  };
}

/** Whether writing `next` over `current` would change anything a reader can see. */
export function statusDiffers(current: AuthPolicyStatus | undefined, next: AuthPolicyStatus): boolean {
  return JSON.stringify(current ?? {}) !== JSON.stringify(next);
}
