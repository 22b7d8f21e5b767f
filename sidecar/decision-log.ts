// The decision log line of one request, as JSON built by hand: a sidecar writes one per request,
// and a logger's generic serializer costs several times more than these few concatenations.
import type { DecisionRecord } from './app-forwarder.ts';

/** JSON.stringify escapes quotes, control characters and lone surrogates: any string is safe. */
const text = JSON.stringify;
const textOrNull = (value: string | undefined): string => (value === undefined ? 'null' : text(value));
const numberOrNull = (value: number): string => (Number.isFinite(value) ? String(value) : 'null');

/**
 * The members of one decision log line (a JSON object's members, without the braces): every
 * field named here and nothing else (so no header, token or claim can slip in), with `policy`
 * and `rule` always present (null when no rule decided, e.g. the mesh default or an invalid
 * token) so that every deny says what denied it.
 */
export function decisionLogJson(record: DecisionRecord): string {
  let json =
    `"decision":${text(record.decision)},"status":${numberOrNull(record.status)}` +
    `,"reason":${text(record.reason)},"policy":${textOrNull(record.policy)},"rule":${textOrNull(record.rule)}`;
  const dryRun = record.dryRun;
  if (dryRun)
    json += `,"dryRun":${text({ decision: dryRun.decision, policy: dryRun.policy, rule: dryRun.rule })}`;
  json +=
    `,"peer":${textOrNull(record.peer)},"user":${textOrNull(record.user)},"method":${text(record.method)}` +
    `,"path":${text(record.path)},"latencyMs":${numberOrNull(Math.round(record.latencyMs * 1000) / 1000)}`;
  // The caller's address and the token's id (never the token), and a block that refused.
  if (record.source !== undefined) json += `,"source":${text(record.source)}`;
  if (record.tokenId !== undefined) json += `,"tokenId":${text(record.tokenId)}`;
  const block = record.block;
  if (block) json += `,"block":${text({ id: block.id, type: block.type })}`;
  return json;
}
