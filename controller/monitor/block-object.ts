// AuthBlock objects (crds/authblock.yaml): the Kubernetes form of a block, shared by every
// control-plane replica. Pure: the name of a target's object, and the conversions both ways
// with the checks a replica applies before it enforces an object.
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { validTarget, type Block, type BlockTarget, type BlockType } from './blocks.ts';

export const AUTHBLOCK = Object.freeze({
  group: 'lanyard.dev',
  version: 'v1alpha1',
  plural: 'authblocks',
  kind: 'AuthBlock',
});

export interface AuthBlockSpec {
  type: BlockType;
  value: string;
  /** RFC 3339. */
  expiresAt: string;
  reason?: string;
  by: Block['by'];
}

export interface AuthBlockObject extends KubernetesObject {
  spec: AuthBlockSpec;
}

/** The most AuthBlock objects a replica enforces: the BlockList's default cap. */
export const MAX_BLOCK_OBJECTS = 10_000;
const MAX_REASON = 256;
const CONTROL = /\p{Cc}/u;

/**
 * The object name of a target's block: its type and a digest of type and value. Every replica
 * derives the same name, so two replicas blocking one target write one object, and the name
 * says nothing of the value (a user subject may be personal data).
 */
export function blockName(target: BlockTarget): string {
  const digest = createHash('sha256').update(`${target.type}\u0000${target.value}`).digest('hex');
  return `${target.type}-${digest.slice(0, 32)}`;
}

export type ParsedBlockObject =
  | { kind: 'active'; block: Block }
  | { kind: 'expired'; name: string }
  | { kind: 'invalid'; name: string; problem: string };

/**
 * Reads an AuthBlock as a replica enforces it. The API server's schema already bounds the
 * fields; this also checks what CEL cannot (a canonical SPIFFE ID, a name that is the target's
 * digest, a TTL within bounds from `nowMs`), so that a hand-written object can never make a
 * replica enforce more than `lanyard blocks add` could.
 */
export function parseBlockObject(
  object: KubernetesObject,
  nowMs: number,
  maxTtlMs: number,
): ParsedBlockObject {
  const name = String(object.metadata?.name ?? '');
  const invalid = (problem: string): ParsedBlockObject => ({ kind: 'invalid', name, problem });
  const spec = (object as Partial<AuthBlockObject>).spec;
  if (!spec || typeof spec !== 'object') return invalid('it has no spec');
  const { type, value, expiresAt, reason = '', by } = spec;
  if (type !== 'principal' && type !== 'user' && type !== 'token')
    return invalid('spec.type is not principal, user or token');
  if (typeof value !== 'string' || !validTarget({ type, value })) {
    return invalid(
      `spec.value is not a valid ${type === 'principal' ? 'SPIFFE ID' : type === 'user' ? 'user subject' : 'token id'}`,
    );
  }
  if (name !== blockName({ type, value })) {
    return invalid(`its name must be ${blockName({ type, value })}, the digest of its type and value`);
  }
  if (by !== 'detector' && by !== 'operator') return invalid('spec.by is not detector or operator');
  if (typeof reason !== 'string' || reason.length > MAX_REASON || CONTROL.test(reason)) {
    return invalid('spec.reason is too long or holds control characters');
  }
  const expiresMs = typeof expiresAt === 'string' ? Date.parse(expiresAt) : NaN;
  if (!Number.isSafeInteger(expiresMs)) return invalid('spec.expiresAt is not an RFC 3339 time');
  if (expiresMs <= nowMs) return { kind: 'expired', name };
  // Replicas' clocks differ by a little; an expiry further out is a TTL beyond the bound.
  if (expiresMs > nowMs + maxTtlMs + 60_000) {
    return invalid(`spec.expiresAt is more than ${Math.round(maxTtlMs / 3600_000)}h away`);
  }
  const created = Date.parse(String(object.metadata?.creationTimestamp ?? ''));
  return {
    kind: 'active',
    block: {
      id: name,
      type,
      value,
      createdMs: Number.isSafeInteger(created) ? created : nowMs,
      expiresMs,
      reason,
      by,
    },
  };
}

/** The AuthBlock for a block (the name is the target's digest, whatever `block.id` holds). */
export function blockObject(
  target: BlockTarget,
  expiresMs: number,
  reason: string,
  by: Block['by'],
  namespace: string,
): AuthBlockObject {
  return {
    apiVersion: `${AUTHBLOCK.group}/${AUTHBLOCK.version}`,
    kind: AUTHBLOCK.kind,
    metadata: {
      name: blockName(target),
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'lanyard', 'lanyard.dev/block-type': target.type },
    },
    spec: {
      type: target.type,
      value: target.value,
      expiresAt: new Date(expiresMs).toISOString(),
      reason,
      by,
    },
  };
}
