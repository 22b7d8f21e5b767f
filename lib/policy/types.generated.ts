// Generated from crds/authpolicy.yaml by `npx tsx crds/generate.ts`. Do not edit by hand.

/** AuthPolicy says who may call the workloads it selects, with which end-user tokens, and what they may do. Lanyard sidecars enforce it on every inbound request: DENY policies first, then ALLOW policies; a workload selected by any ALLOW policy refuses whatever no ALLOW rule permits, and a workload with no policy follows the mesh default. */
export interface AuthPolicy {
  /** The versioned schema of this object (lanyard.dev/v1alpha1). */
  readonly apiVersion?: string;
  /** The kind of this object (AuthPolicy). */
  readonly kind?: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The desired behaviour of the policy. */
  readonly spec: AuthPolicySpec;
  /** What the controller observed; written by the controller only. */
  readonly status?: AuthPolicyStatus;
}

/** What the controller observed; written by the controller only. */
export interface AuthPolicyStatus {
  /** The metadata.generation this status describes. */
  readonly observedGeneration?: number;
  /** How many pods the policy currently selects. */
  readonly selectedWorkloads?: number;
  /** Accepted says whether the policy is valid and compiled (its message names the offending field when not); Ready says whether every selected sidecar enforces it. */
  readonly conditions?: readonly StatusCondition[];
}

/** One condition of the policy. */
export interface StatusCondition {
  /** The condition's type, e.g. Accepted or Ready. */
  readonly type: string;
  /** True, False or Unknown. */
  readonly status: 'True' | 'False' | 'Unknown';
  /** The metadata.generation this condition was set for. */
  readonly observedGeneration?: number;
  /** When the status last changed. */
  readonly lastTransitionTime: string;
  /** A CamelCase code for the last transition. */
  readonly reason: string;
  /** What happened, for humans. */
  readonly message: string;
}

/** The desired behaviour of the policy. */
export interface AuthPolicySpec {
  /** Which pods of this namespace the policy applies to, by their labels. Without a selector the policy applies to every pod of the namespace; a policy in the mesh's root namespace (lanyard-system by default) applies to every pod of the mesh. An empty selector ({}) also selects every pod. */
  readonly selector?: LabelSelector;
  /** How selected workloads accept connections. STRICT accepts only mutual TLS from mesh workloads. PERMISSIVE also accepts plaintext from clients outside the mesh; such requests have no peer identity, so rules that name principals or namespaces never match them. When several policies select a workload, STRICT wins; when none sets it, the mesh default applies. */
  readonly mtls?: 'STRICT' | 'PERMISSIVE';
  /** What happens to a request that a rule matches. ALLOW permits it (and makes every selected workload refuse what no ALLOW rule permits). DENY refuses it, whatever any ALLOW policy says. AUDIT only logs the match and changes nothing. Default: "ALLOW". */
  readonly action?: 'ALLOW' | 'DENY' | 'AUDIT';
  /** Evaluate the policy and log what it would have decided, without enforcing it. Use it to try a policy on live traffic before turning it on. Default: false. */
  readonly dryRun?: boolean;
  /** The issuers of end-user JWTs that selected workloads accept. A request that carries a token from none of them, or an invalid token, is refused with 401; a request without a token has no user claims. */
  readonly userTokens?: readonly UserTokenIssuer[];
  /** Path to the claim that holds the user's roles, one key per item (default [roles]; Keycloak uses [realm_access, roles]). The claim may be an array of strings or a space-delimited string. Default: ["roles"]. */
  readonly rolesClaim?: readonly string[];
  /** Named operations that rules (to[].permission) and roles refer to. A request matches a permission when it matches every field that is set. */
  readonly permissions?: readonly Permission[];
  /** Roles carried by the user's token (in rolesClaim) mapped to the permissions they grant. A rule with to[].rolePermissions matches the operations that the user's roles grant; a condition when[].role tests a role directly. */
  readonly roles?: readonly Role[];
  /** The rules; a request matches the policy when it matches any rule. An ALLOW policy without rules allows nothing, so it refuses every request to the workloads it selects. */
  readonly rules?: readonly Rule[];
}

/** One rule: a request matches when it matches from, to and when (each list matches when any of its items does); a field left out matches everything. */
export interface Rule {
  /** A name for the rule, unique in the policy, used in decision logs and metrics (default: its index, rules[0]). */
  readonly name?: string;
  /** Who may be the caller, by the peer's SPIFFE identity; any item matches. */
  readonly from?: readonly Source[];
  /** What the request may do; any item matches. */
  readonly to?: readonly Operation[];
  /** Conditions on the verified end-user claims, all of them. A request without a user token matches no condition. */
  readonly when?: readonly Condition[];
  /** Require multi-factor authentication for this rule (ALLOW policies only): the user's token must show it in its amr or acr claim. A request that matches the rule without it gets 401 with an RFC 9470 step-up challenge. An empty object ({}) means amr must contain "mfa". */
  readonly requireMfa?: MfaRequirement;
  /** Limit the requests this rule allows (ALLOW policies only); excess requests get 429 with Retry-After. Each sidecar counts separately. */
  readonly rateLimit?: RateLimit;
}

/** Limit the requests this rule allows (ALLOW policies only); excess requests get 429 with Retry-After. Each sidecar counts separately. */
export interface RateLimit {
  /** How many requests each key may make per period. */
  readonly requests: number;
  /** The period, a duration from 1s to 24h such as 1s, 1m, 1h or 1m30s. */
  readonly per: string;
  /** What each bucket is counted by: source (the caller's SPIFFE ID), user (the token's sub claim) or claim (the claim named in claim). */
  readonly by: 'source' | 'user' | 'claim';
  /** Path to the claim that keys the bucket, when by is claim. */
  readonly claim?: readonly string[];
}

/** Require multi-factor authentication for this rule (ALLOW policies only): the user's token must show it in its amr or acr claim. A request that matches the rule without it gets 401 with an RFC 9470 step-up challenge. An empty object ({}) means amr must contain "mfa". */
export interface MfaRequirement {
  /** Authentication methods (RFC 8176), any of which the amr claim must contain, e.g. [mfa, hwk, otp]. */
  readonly amr?: readonly string[];
  /** Authentication context classes, one of which the acr claim must equal; sent as acr_values in the step-up challenge. */
  readonly acr?: readonly string[];
}

/** One condition: a role, a group, a scope, or any claim by path. Claims may be strings, numbers, booleans or arrays of them. */
export interface Condition {
  /** The user must have this role (in spec.rolesClaim). */
  readonly role?: string;
  /** The user's groups claim must contain this group. */
  readonly group?: string;
  /** The token must grant this OAuth scope, in its scope claim (a space-delimited string, RFC 8693) or its scp claim (an array). */
  readonly scope?: string;
  /** Path to the claim, one key per item: [tenant] or [org, id] for the nested claims.org.id. */
  readonly claim?: readonly string[];
  /** The claim (or, for an array claim, one of its items) must equal one of these, compared as strings. */
  readonly values?: readonly string[];
  /** The claim (or any of its items) must equal none of these; a missing claim matches. */
  readonly notValues?: readonly string[];
  /** True if the claim must be present, false if it must be absent. */
  readonly present?: boolean;
}

/** One operation: a named permission, the permissions granted by the user's roles, or an inline operation (methods, hosts, ports, paths and their negations; every field set must match). */
export interface Operation {
  /** The name of a permission in spec.permissions. */
  readonly permission?: string;
  /** True: the request must match a permission granted by one of the user's roles (spec.roles). A request without user claims never matches. */
  readonly rolePermissions?: boolean;
  /** HTTP methods, any of them (e.g. GET, POST; gRPC calls are POST). */
  readonly methods?: readonly string[];
  /** HTTP methods that must not be used. */
  readonly notMethods?: readonly string[];
  /** Host names the request is addressed to (its Host or :authority, without the port), any of them. Exact ("api.shop.example"), prefix ("api.*"), suffix ("*.shop.example") or "*" for any. Compared case-insensitively. */
  readonly hosts?: readonly string[];
  /** Host names (same forms as hosts) the request must not be addressed to. */
  readonly notHosts?: readonly string[];
  /** Destination ports of the workload, any of them. */
  readonly ports?: readonly number[];
  /** Destination ports the request must not be sent to. */
  readonly notPorts?: readonly number[];
  /** Request paths, any of them, matched after normalization (dot segments removed, repeated slashes merged, query and fragment dropped; case-sensitive). Exact ("/orders"), prefix ("/static/*" matches every path that starts with "/static/") or template: "{name}" or "{*}" matches one whole segment ("/orders/{id}"), and a last "{**}" matches the rest of the path, possibly empty ("/orders/{**}" matches "/orders/" and "/orders/1/items" but not "/orders"). */
  readonly paths?: readonly string[];
  /** Request paths (same forms as paths) the request must not have. */
  readonly notPaths?: readonly string[];
}

/** Callers matching every field set here. A plaintext caller (PERMISSIVE mode) has no principal and no namespace: it never matches principals or namespaces, and always matches notPrincipals and notNamespaces. */
export interface Source {
  /** SPIFFE IDs of callers, any of them. Exact ("spiffe://cluster.local/ns/shop/sa/web"), prefix ("spiffe://cluster.local/ns/shop/*"), suffix ("*\/sa/web") or "*" for any mesh workload. */
  readonly principals?: readonly string[];
  /** SPIFFE IDs (same forms as principals) the caller must not have. */
  readonly notPrincipals?: readonly string[];
  /** Namespaces of callers in this mesh's trust domain, any of them: exact ("shop"), prefix ("team-*"), suffix ("*-prod") or "*". */
  readonly namespaces?: readonly string[];
  /** Namespaces (same forms as namespaces) the caller must not be in. */
  readonly notNamespaces?: readonly string[];
}

/** One role and what it grants. */
export interface Role {
  /** The role, exactly as it appears in the token's roles claim. */
  readonly name: string;
  /** Names of permissions (spec.permissions) the role grants. */
  readonly permissions: readonly string[];
}

/** One named set of operations. */
export interface Permission {
  /** The permission's name, unique in the policy. */
  readonly name: string;
  /** HTTP methods, any of them (e.g. GET, POST; gRPC calls are POST). */
  readonly methods?: readonly string[];
  /** HTTP methods that must not be used. */
  readonly notMethods?: readonly string[];
  /** Host names the request is addressed to (its Host or :authority, without the port), any of them. Exact ("api.shop.example"), prefix ("api.*"), suffix ("*.shop.example") or "*" for any. Compared case-insensitively. */
  readonly hosts?: readonly string[];
  /** Host names (same forms as hosts) the request must not be addressed to. */
  readonly notHosts?: readonly string[];
  /** Destination ports of the workload, any of them. */
  readonly ports?: readonly number[];
  /** Destination ports the request must not be sent to. */
  readonly notPorts?: readonly number[];
  /** Request paths, any of them, matched after normalization (dot segments removed, repeated slashes merged, query and fragment dropped; case-sensitive). Exact ("/orders"), prefix ("/static/*" matches every path that starts with "/static/") or template: "{name}" or "{*}" matches one whole segment ("/orders/{id}"), and a last "{**}" matches the rest of the path, possibly empty ("/orders/{**}" matches "/orders/" and "/orders/1/items" but not "/orders"). */
  readonly paths?: readonly string[];
  /** Request paths (same forms as paths) the request must not have. */
  readonly notPaths?: readonly string[];
}

/** One trusted token issuer and how its tokens are read and passed on. */
export interface UserTokenIssuer {
  /** The token's iss claim must equal this exactly (an https URL). */
  readonly issuer: string;
  /** Where the issuer publishes its signing keys (a JWKS document). Must be an https URL. */
  readonly jwksUri?: string;
  /** The issuer's signing keys inline, as a JWKS JSON document ({"keys": [...]}), for issuers that publish none. Public keys only. */
  readonly jwks?: string;
  /** The token's aud claim must contain at least one of these. */
  readonly audiences: readonly string[];
  /** Where the token is read from, first match wins. Default: the Authorization header with the prefix "Bearer ". */
  readonly from?: readonly TokenLocation[];
  /** Pass the token on to the application (true, the default) or remove it from the request after validation (false). Default: true. */
  readonly forward?: boolean;
  /** Verified claims copied into request headers for the application. Any such header sent by the client is removed first, so the app can trust it. */
  readonly claimsToHeaders?: readonly ClaimToHeader[];
}

/** One claim and the header it is copied to. */
export interface ClaimToHeader {
  /** Path to the claim, one key per item: [sub] is the subject, [realm_access, roles] is claims.realm_access.roles. */
  readonly claim: readonly string[];
  /** The header to set. Arrays become comma-separated values, objects JSON. */
  readonly header: string;
}

/** One place a token may be carried (a header or a cookie). */
export interface TokenLocation {
  /** The name of the request header that holds the token. */
  readonly header?: string;
  /** Text before the token in the header, removed before validation (e.g. "Bearer "). */
  readonly prefix?: string;
  /** The name of the cookie that holds the token. */
  readonly cookie?: string;
}

/** Which pods of this namespace the policy applies to, by their labels. Without a selector the policy applies to every pod of the namespace; a policy in the mesh's root namespace (lanyard-system by default) applies to every pod of the mesh. An empty selector ({}) also selects every pod. */
export interface LabelSelector {
  /** Labels a pod must carry, all of them, with exactly these values. */
  readonly matchLabels?: Readonly<Record<string, string>>;
  /** Label requirements a pod must meet, all of them. */
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

/** One label requirement. */
export interface LabelSelectorRequirement {
  /** The label key. */
  readonly key: string;
  /** How the label's value relates to values: In (one of them), NotIn (none of them, or no label), Exists (the label is set), DoesNotExist (it is not). */
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  /** The values for In and NotIn; empty for Exists and DoesNotExist. */
  readonly values?: readonly string[];
}
