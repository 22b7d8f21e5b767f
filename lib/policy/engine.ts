// The evaluation engine: one request against one workload's compiled policies. DENY rules
// first, then ALLOW rules; a workload that ALLOW policies select refuses what none allows;
// otherwise the mesh default. Dry-run and AUDIT policies are evaluated and reported only.
import { parseSpiffeId, workloadIdentityOf } from '../spiffe.ts';
import type { CompiledPolicy } from './compile.ts';
import type { AuditRecord, Decision, DecisionReason, NearMiss, RequestContext, RuleRef } from './model.ts';
import type { WorkloadPolicy } from './policy-index.ts';
import { positionsFor, type RuleEntry, type RuleTable } from './rule-table.ts';
import { mfaSatisfied, type CompiledRule, type EvalContext } from './rules.ts';

interface Outcome {
  decision: 'ALLOW' | 'DENY';
  reason: DecisionReason;
  decidedBy?: RuleRef;
  rule?: CompiledRule;
}

function ref(policy: CompiledPolicy, rule: CompiledRule): RuleRef {
  return { policy: policy.ref, rule: rule.name };
}

/**
 * Whether from, to and when all match; MFA is checked by the caller. Only for rules from
 * RuleTable.candidates: a rule found by the peer's key whose sources are just such keys matches
 * its sources already.
 */
function matches(rule: CompiledRule, ctx: EvalContext): boolean {
  if (rule.pathPrefix !== undefined && !ctx.path.startsWith(rule.pathPrefix)) return false;
  if (rule.from !== undefined && !rule.fromIsPeerKeys && !rule.from(ctx)) return false;
  if (rule.to !== undefined && !rule.to(ctx)) return false;
  const { when } = rule;
  for (let i = 0; i < when.length; i++) if (!when[i]!.test(ctx)) return false;
  return true;
}

function differences(rule: CompiledRule, ctx: EvalContext): string[] {
  const out: string[] = [];
  if (rule.from && !rule.from(ctx))
    out.push(`from: caller ${ctx.peer ?? '(plaintext, no identity)'} matches no source`);
  if (rule.to && !rule.to(ctx))
    out.push(`to: ${ctx.method} ${ctx.host}:${ctx.port}${ctx.path} matches no operation`);
  for (const [i, condition] of rule.when.entries()) {
    if (!condition.test(ctx)) {
      out.push(`when[${i}]: ${condition.text} not satisfied${ctx.claims ? '' : ' (no user token)'}`);
    }
  }
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

class Evaluation {
  rulesEvaluated = 0;
  constructor(readonly ctx: EvalContext) {}

  decide(deny: RuleTable, allow: RuleTable, hasAllow: boolean, defaultAction: 'ALLOW' | 'DENY'): Outcome {
    const { ctx } = this;
    const denyRules = deny.candidates(ctx.peer, ctx.namespace);
    const denied = this.firstMatch(denyRules, positionsFor(denyRules, ctx.path));
    if (denied) return { decision: 'DENY', reason: 'DENY_RULE', decidedBy: ref(denied.policy, denied.rule) };
    const allowRules = allow.candidates(ctx.peer, ctx.namespace);
    const positions = positionsFor(allowRules, ctx.path);
    let stepUp: Outcome | undefined;
    let from = 0;
    for (;;) {
      const found = this.firstMatch(allowRules, positions, from);
      if (!found) break;
      const { policy, rule } = found;
      if (!rule.mfa || mfaSatisfied(rule.mfa, ctx.claims)) {
        return { decision: 'ALLOW', reason: 'ALLOW_RULE', decidedBy: ref(policy, rule), rule };
      }
      // Keep looking: another rule may allow without MFA.
      stepUp ??= { decision: 'DENY', reason: 'MFA_REQUIRED', decidedBy: ref(policy, rule), rule };
      from = found.next;
    }
    if (stepUp) return stepUp;
    if (hasAllow) return { decision: 'DENY', reason: 'NO_ALLOW_MATCH' };
    return { decision: defaultAction, reason: 'MESH_DEFAULT' };
  }

  /**
   * The first rule of `rules` at or after position `from` that matches, looking only at the
   * given positions (all when undefined). Counts the rules passed as looked at, as a walk of
   * the whole list would: up to the match, or to the end.
   */
  private firstMatch(
    rules: readonly RuleEntry[],
    positions: readonly number[] | undefined,
    from = 0,
  ): (RuleEntry & { next: number }) | undefined {
    const count = positions ? positions.length : rules.length;
    let i = 0;
    if (positions) while (i < count && positions[i]! < from) i++;
    else i = from;
    for (; i < count; i++) {
      const position = positions ? positions[i]! : i;
      const entry = rules[position]!;
      if (matches(entry.rule, this.ctx)) {
        this.rulesEvaluated += position + 1 - from;
        return { ...entry, next: position + 1 };
      }
    }
    this.rulesEvaluated += rules.length - from;
    return undefined;
  }

  /** The ALLOW rule with the fewest differences; looks at every rule, but only for a deny. */
  nearMiss(allow: RuleTable): NearMiss | undefined {
    let best: NearMiss | undefined;
    for (const { policy, rule } of allow.all) {
      const differ = differences(rule, this.ctx);
      if (!best || differ.length < best.differences.length)
        best = { ...ref(policy, rule), differences: differ };
    }
    return best;
  }

  audit(table: RuleTable, dryRun: boolean, records: AuditRecord[]): void {
    const rules = table.candidates(this.ctx.peer, this.ctx.namespace);
    for (let i = 0; i < rules.length; i++) {
      const { policy, rule } = rules[i]!;
      this.rulesEvaluated++;
      if (matches(rule, this.ctx)) records.push({ ...ref(policy, rule), action: policy.action, dryRun });
    }
  }
}

function peerNamespace(peer: string, trustDomain: string): string | undefined {
  try {
    const id = parseSpiffeId(peer);
    return id.trustDomain === trustDomain ? workloadIdentityOf(id)?.namespace : undefined;
  } catch {
    return undefined;
  }
}

/** Peers' namespaces, per workload view: peers are few and parsing one costs more than a lookup. */
const namespaces = new WeakMap<WorkloadPolicy, Map<string, string | undefined>>();
const MAX_PEERS = 1024;

function cachedPeerNamespace(view: WorkloadPolicy, peer: string | undefined): string | undefined {
  if (peer === undefined) return undefined;
  let byPeer = namespaces.get(view);
  if (!byPeer) namespaces.set(view, (byPeer = new Map<string, string | undefined>()));
  const known = byPeer.get(peer);
  if (known !== undefined || byPeer.has(peer)) return known;
  const namespace = peerNamespace(peer, view.options.trustDomain);
  if (byPeer.size >= MAX_PEERS) byPeer.clear();
  byPeer.set(peer, namespace);
  return namespace;
}

const NO_AUDIT: readonly AuditRecord[] = Object.freeze([]);

/**
 * Decides one request for one workload. The path must come from normalizePath; the peer is the
 * SPIFFE ID of a verified client certificate and the claims those of a verified token.
 */
export function evaluate(view: WorkloadPolicy, request: RequestContext): Decision {
  const host = request.host.toLowerCase();
  const ctx: EvalContext = {
    method: request.method.toUpperCase(),
    host: host.endsWith('.') ? host.slice(0, -1) : host,
    port: request.port,
    path: request.path,
    peer: request.peer,
    namespace: cachedPeerNamespace(view, request.peer),
    claims: request.claims,
    roles: new Map(),
  };
  const run = new Evaluation(ctx);
  const { tables } = view;
  let audit = NO_AUDIT;
  if (tables.audit.all.length > 0 || tables.dryRun.all.length > 0) {
    const records: AuditRecord[] = [];
    run.audit(tables.audit, false, records);
    run.audit(tables.dryRun, true, records);
    audit = records;
  }
  if (request.peer === undefined && view.mtls === 'STRICT') {
    return { decision: 'DENY', reason: 'MTLS_REQUIRED', audit, rulesEvaluated: run.rulesEvaluated };
  }
  const outcome = run.decide(tables.deny, tables.allow, view.allow.length > 0, view.options.defaultAction);
  const dryRun =
    view.dryRun.length === 0
      ? undefined
      : run.decide(
          tables.shadowDeny,
          tables.shadowAllow,
          view.allow.length > 0 || view.dryRun.some((p) => p.action === 'ALLOW'),
          view.options.defaultAction,
        );
  const { rule } = outcome;
  // Built field by field in the order a reader expects, with no spread per request.
  const decision: Mutable<Decision> = {
    decision: outcome.decision,
    reason: outcome.reason,
  } as Mutable<Decision>;
  if (outcome.decidedBy) decision.decidedBy = outcome.decidedBy;
  if (outcome.reason === 'MFA_REQUIRED' && rule?.mfa)
    decision.stepUp = { acrValues: rule.mfa.acr, amrValues: rule.mfa.amr };
  if (outcome.reason === 'ALLOW_RULE' && rule?.rateLimit) {
    decision.rateLimit = {
      bucket: rule.rateLimit.key(ctx),
      requests: rule.rateLimit.requests,
      periodMs: rule.rateLimit.periodMs,
    };
  }
  if (outcome.reason === 'NO_ALLOW_MATCH') decision.nearMiss = run.nearMiss(tables.allow);
  decision.audit = audit;
  if (dryRun) {
    decision.dryRun = {
      decision: dryRun.decision,
      reason: dryRun.reason,
      ...(dryRun.decidedBy && { decidedBy: dryRun.decidedBy }),
    };
  }
  decision.rulesEvaluated = run.rulesEvaluated;
  return decision;
}
