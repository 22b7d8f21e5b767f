// The policy model shared by the compiler, the index and the engine. Pure data, no I/O.
import type { NormalizedPath } from '../path.ts';
import type { PolicyErrorCode, PolicyWarningCode } from './errors.ts';

/** Names a policy: namespace/name. */
export interface PolicyRef {
  readonly namespace: string;
  readonly name: string;
}

/** A workload as policies select it: its namespace and its pod's labels. */
export interface WorkloadRef {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface CompileOptions {
  /** Policies in this namespace apply to every workload of the mesh. Default "lanyard-system". */
  readonly rootNamespace?: string;
  /** The mesh's trust domain: only peers in it have a namespace. Default "cluster.local". */
  readonly trustDomain?: string;
  /** The decision for a workload that no ALLOW policy selects and no DENY rule matches. Default ALLOW. */
  readonly defaultAction?: 'ALLOW' | 'DENY';
  /** The mTLS mode of a workload that no policy sets it for. Default STRICT. */
  readonly defaultMtls?: 'STRICT' | 'PERMISSIVE';
}

/** A compiler finding, naming the field it is about, e.g. `spec.rules[1].to[0].permission`. */
export interface Diagnostic {
  readonly code: PolicyErrorCode | PolicyWarningCode;
  readonly path: string;
  readonly message: string;
}

/** End-user claims of a verified token; the engine never sees an unverified one. */
export type Claims = Readonly<Record<string, unknown>>;

/** What the engine decides on. */
export interface RequestContext {
  /** The HTTP method, e.g. GET. */
  readonly method: string;
  /** The host the request is addressed to, without its port. */
  readonly host: string;
  /** The destination port on the workload. */
  readonly port: number;
  /** The path from normalizePath, the same value the router forwards. */
  readonly path: NormalizedPath;
  /** The peer's SPIFFE ID from its verified certificate; undefined for plaintext (PERMISSIVE). */
  readonly peer?: string;
  /** The verified token's claims; undefined when the request carries no token. */
  readonly claims?: Claims;
}

export type DecisionReason =
  /** A DENY rule matched. */
  | 'DENY_RULE'
  /** An ALLOW rule matched. */
  | 'ALLOW_RULE'
  /** An ALLOW rule matched except for its MFA requirement: answer 401 with a step-up challenge. */
  | 'MFA_REQUIRED'
  /** ALLOW policies select the workload and none of their rules matched. */
  | 'NO_ALLOW_MATCH'
  /** Plaintext request to a workload in STRICT mode. */
  | 'MTLS_REQUIRED'
  /** No policy decided: the mesh default applied. */
  | 'MESH_DEFAULT';

/** A rule of a policy, named by its name or, without one, by its index (`rules[2]`). */
export interface RuleRef {
  readonly policy: PolicyRef;
  readonly rule: string;
}

export interface RateLimitBucket {
  /** Identifies the counter: policy, rule and the key value (source, user or claim). */
  readonly bucket: string;
  readonly requests: number;
  readonly periodMs: number;
}

export interface StepUp {
  /** acr values to send as acr_values in the RFC 9470 challenge (may be empty). */
  readonly acrValues: readonly string[];
  /** amr values of which the token must carry one. */
  readonly amrValues: readonly string[];
}

/** An ALLOW rule that almost matched a denied request, and what differed: for `lanyard check`. */
export interface NearMiss extends RuleRef {
  readonly differences: readonly string[];
}

/** What a dry-run or AUDIT policy would have done; logged, never enforced. */
export interface AuditRecord extends RuleRef {
  readonly action: 'ALLOW' | 'DENY' | 'AUDIT';
  readonly dryRun: boolean;
}

export interface Decision {
  readonly decision: 'ALLOW' | 'DENY';
  readonly reason: DecisionReason;
  /** The rule that decided; absent for MTLS_REQUIRED, NO_ALLOW_MATCH and MESH_DEFAULT. */
  readonly decidedBy?: RuleRef;
  /** Present for MFA_REQUIRED. */
  readonly stepUp?: StepUp;
  /** The rate-limit bucket of the ALLOW rule that decided, if it has one. */
  readonly rateLimit?: RateLimitBucket;
  /** For a NO_ALLOW_MATCH deny: the ALLOW rule that came closest. */
  readonly nearMiss?: NearMiss;
  /** Matches of AUDIT policies and of dry-run policies' rules. Logged, not enforced. */
  readonly audit: readonly AuditRecord[];
  /** When dry-run policies select the workload: the decision they would have produced. */
  readonly dryRun?: {
    readonly decision: 'ALLOW' | 'DENY';
    readonly reason: DecisionReason;
    readonly decidedBy?: RuleRef;
  };
  /** How many rules were looked at: bounded by the workload's policies, never the cluster's. */
  readonly rulesEvaluated: number;
}
