// Renders a decision for people: what was decided, by which policy and rule, and for a deny
// the rule that came closest and what differed. Used by `lanyard check` and `lanyard test`.
import type { Decision } from './model.ts';
import type { WorkloadPolicy } from './policy-index.ts';

const names = (policies: WorkloadPolicy['allow']) => policies.map((policy) => policy.key).join(', ');

/** With the workload's view, a decision no rule made still names the policies that were checked. */
export function explainDecision(decision: Decision, view?: WorkloadPolicy): string[] {
  const lines: string[] = [];
  const by = decision.decidedBy
    ? `${decision.decidedBy.policy.namespace}/${decision.decidedBy.policy.name} rule ${decision.decidedBy.rule}`
    : 'no rule';
  lines.push(`${decision.decision} (${decision.reason}) by ${by}`);
  if (decision.stepUp) {
    const wanted = [
      ...decision.stepUp.amrValues.map((v) => `amr ${v}`),
      ...decision.stepUp.acrValues.map((v) => `acr ${v}`),
    ];
    lines.push(
      `  needs multi-factor authentication: ${wanted.join(' or ') || 'amr mfa'} (the sidecar answers 401 with a step-up challenge)`,
    );
  }
  if (decision.rateLimit) {
    lines.push(
      `  rate limited: ${decision.rateLimit.requests} per ${decision.rateLimit.periodMs / 1000}s in bucket ${decision.rateLimit.bucket}`,
    );
  }
  if (view && decision.reason === 'MESH_DEFAULT') {
    lines.push('  no ALLOW policy selects this workload, so the mesh default decides');
    if (view.deny.length > 0)
      lines.push(`  DENY policies that select it, none matching: ${names(view.deny)}`);
  }
  if (view && decision.reason === 'NO_ALLOW_MATCH' && !decision.nearMiss && view.allow.length > 0) {
    lines.push(`  ALLOW policies that select it, none with a matching rule: ${names(view.allow)}`);
  }
  if (decision.decision === 'DENY' && decision.nearMiss) {
    const { policy, rule, differences } = decision.nearMiss;
    lines.push(`  nearest rule: ${policy.namespace}/${policy.name} rule ${rule}, which differs in:`);
    for (const difference of differences) lines.push(`    - ${difference}`);
  }
  for (const record of decision.audit) {
    lines.push(
      `  ${record.dryRun ? 'dry-run' : 'audit'}: ${record.policy.namespace}/${record.policy.name} rule ${record.rule} (${record.action}) matched`,
    );
  }
  if (decision.dryRun) {
    lines.push(`  dry-run policies would decide ${decision.dryRun.decision} (${decision.dryRun.reason})`);
  }
  return lines;
}
