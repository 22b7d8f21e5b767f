import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../lib/policy/index.ts';
import { desiredStatus, statusDiffers } from './status.ts';

const valid = compilePolicy({
  metadata: { name: 'p', namespace: 'shop' },
  spec: { action: 'ALLOW', rules: [{ from: [{ namespaces: ['shop'] }] }] },
});
const invalid = compilePolicy({
  metadata: { name: 'p', namespace: 'shop' },
  spec: { permissions: [{ name: 'write', methods: ['POST'] }], rules: [{ to: [{ permission: 'wrte' }] }] },
});

describe('desiredStatus', () => {
  it('marks a valid policy Accepted and counts its workloads', () => {
    const status = desiredStatus({ generation: 3, result: valid, selectedWorkloads: 2, now: 't1' });
    expect(status.observedGeneration).toBe(3);
    expect(status.selectedWorkloads).toBe(2);
    expect(status.conditions?.[0]).toMatchObject({ type: 'Accepted', status: 'True', observedGeneration: 3 });
    expect(status.conditions?.[1]).toMatchObject({
      type: 'Ready',
      status: 'Unknown',
      reason: 'NoSidecarsConnected',
    });
  });

  it('marks an invalid policy Accepted=False with a message naming the field', () => {
    const status = desiredStatus({ generation: 1, result: invalid, selectedWorkloads: 0, now: 't1' });
    expect(invalid.accepted).toBe(false);
    expect(status.conditions?.[0]).toMatchObject({ type: 'Accepted', status: 'False', reason: 'Invalid' });
    expect(status.conditions?.[0]?.message).toMatch(
      /spec\.rules\[0\]\.to\[0\]\.permission: unknown permission "wrte"/,
    );
    expect(status.conditions?.[1]).toMatchObject({ type: 'Ready', status: 'False', reason: 'NotAccepted' });
  });

  it('is Ready only when every connected selected sidecar acknowledged', () => {
    const pending = desiredStatus({
      generation: 1,
      result: valid,
      selectedWorkloads: 3,
      delivery: { connected: 3, acknowledged: 2 },
      now: 't',
    });
    expect(pending.conditions?.[1]).toMatchObject({ status: 'False', reason: 'Pending' });
    const done = desiredStatus({
      generation: 1,
      result: valid,
      selectedWorkloads: 3,
      delivery: { connected: 3, acknowledged: 3 },
      now: 't',
    });
    expect(done.conditions?.[1]).toMatchObject({ status: 'True', reason: 'Delivered' });
  });

  it('keeps lastTransitionTime while a condition holds, so an unchanged policy writes nothing', () => {
    const first = desiredStatus({ generation: 1, result: valid, selectedWorkloads: 1, now: 't1' });
    const again = desiredStatus({
      generation: 1,
      result: valid,
      selectedWorkloads: 1,
      previous: first,
      now: 't2',
    });
    expect(statusDiffers(first, again)).toBe(false);
    const flipped = desiredStatus({
      generation: 2,
      result: invalid,
      selectedWorkloads: 1,
      previous: first,
      now: 't3',
    });
    expect(flipped.conditions?.[0]?.lastTransitionTime).toBe('t3');
    expect(statusDiffers(first, flipped)).toBe(true);
  });
});
