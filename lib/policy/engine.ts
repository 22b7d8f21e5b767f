// The evaluation engine: one request against one workload's compiled policies. DENY rules
// first, then ALLOW rules; a workload that ALLOW policies select refuses what none allows;
// otherwise the mesh default. Dry-run and AUDIT policies are evaluated and reported only.
import { parseSpiffeId, workloadIdentityOf } from '../spiffe.ts';
import type { CompiledPolicy } from './compile.ts';
import type { AuditRecord, Decision, DecisionReason, NearMiss, RequestContext, RuleRef } from './model.ts';
import type { WorkloadPolicy } from './policy-index.ts';
import type { RuleTable } from './rule-table.ts';
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

/** Whether from, to and when all match; MFA is checked by the caller. */
function matches(rule: CompiledRule, ctx: EvalContext): boolean {
  return (
    (rule.from?.(ctx) ?? true) &&
    (rule.to?.(ctx) ?? true) &&
    rule.when.every((condition) => condition.test(ctx))
  );
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

class Evaluation {
  rulesEvaluated = 0;
  constructor(readonly ctx: EvalContext) {}

  decide(deny: RuleTable, allow: RuleTable, hasAllow: boolean, defaultAction: 'ALLOW' | 'DENY'): Outcome {
    for (const { policy, rule } of deny.candidates(this.ctx.peer, this.ctx.namespace)) {
      this.rulesEvaluated++;
      if (matches(rule, this.ctx))
        return { decision: 'DENY', reason: 'DENY_RULE', decidedBy: ref(policy, rule) };
    }
    let stepUp: Outcome | undefined;
    for (const { policy, rule } of allow.candidates(this.ctx.peer, this.ctx.namespace)) {
      this.rulesEvaluated++;
      if (!matches(rule, this.ctx)) continue;
      if (!rule.mfa || mfaSatisfied(rule.mfa, this.ctx.claims)) {
        return { decision: 'ALLOW', reason: 'ALLOW_RULE', decidedBy: ref(policy, rule), rule };
      }
      // Keep looking: another rule may allow without MFA.
      stepUp ??= { decision: 'DENY', reason: 'MFA_REQUIRED', decidedBy: ref(policy, rule), rule };
    }
    if (stepUp) return stepUp;
    if (hasAllow) return { decision: 'DENY', reason: 'NO_ALLOW_MATCH' };
    return { decision: defaultAction, reason: 'MESH_DEFAULT' };
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

  audit(table: RuleTable, dryRun: boolean): AuditRecord[] {
    const records: AuditRecord[] = [];
    for (const { policy, rule } of table.candidates(this.ctx.peer, this.ctx.namespace)) {
      this.rulesEvaluated++;
      if (matches(rule, this.ctx)) records.push({ ...ref(policy, rule), action: policy.action, dryRun });
    }
    return records;
  }
}

function peerNamespace(peer: string | undefined, trustDomain: string): string | undefined {
  if (peer === undefined) return undefined;
  try {
    const id = parseSpiffeId(peer);
    return id.trustDomain === trustDomain ? workloadIdentityOf(id)?.namespace : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Decides one request for one workload. The path must come from normalizePath; the peer is the
 * SPIFFE ID of a verified client certificate and the claims those of a verified token.
 */
export function evaluate(view: WorkloadPolicy, request: RequestContext): Decision {
  const ctx: EvalContext = {
    method: request.method.toUpperCase(),
    host: request.host.toLowerCase().replace(/\.$/, ''),
    port: request.port,
    path: request.path,
    peer: request.peer,
    namespace: peerNamespace(request.peer, view.options.trustDomain),
    claims: request.claims,
    roles: new Map(),
  };
  const run = new Evaluation(ctx);
  const { tables } = view;
  const audit = [...run.audit(tables.audit, false), ...run.audit(tables.dryRun, true)];
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
  return {
    decision: outcome.decision,
    reason: outcome.reason,
    ...(outcome.decidedBy && { decidedBy: outcome.decidedBy }),
    ...(outcome.reason === 'MFA_REQUIRED' &&
      rule?.mfa && { stepUp: { acrValues: rule.mfa.acr, amrValues: rule.mfa.amr } }),
    ...(outcome.reason === 'ALLOW_RULE' &&
      rule?.rateLimit && {
        rateLimit: {
          bucket: rule.rateLimit.key(ctx),
          requests: rule.rateLimit.requests,
          periodMs: rule.rateLimit.periodMs,
        },
      }),
    ...(outcome.reason === 'NO_ALLOW_MATCH' && { nearMiss: run.nearMiss(tables.allow) }),
    audit,
    ...(dryRun && {
      dryRun: {
        decision: dryRun.decision,
        reason: dryRun.reason,
        ...(dryRun.decidedBy && { decidedBy: dryRun.decidedBy }),
      },
    }),
    rulesEvaluated: run.rulesEvaluated,
  };
}
