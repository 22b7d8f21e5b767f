/**
 * Codes of the policy compiler's diagnostics and the policy loader's errors. Diagnostics are
 * data (a policy is accepted or not, with messages naming the field); only misuse of the API
 * and loader failures throw.
 */
export const POLICY_ERRORS = Object.freeze({
  ERR_POLICY_SCHEMA: 'The policy breaks the AuthPolicy schema or one of its CEL rules.',
  ERR_POLICY_REFERENCE: 'A rule or role names a permission or role that the policy does not define.',
  ERR_POLICY_TEMPLATE: 'A path pattern is malformed or not in normalized form, so it could never match.',
  ERR_POLICY_DUPLICATE:
    'Two rules, permissions or roles of one policy share a name, or two policies share a key.',
  ERR_POLICY_JWKS: 'An inline JWKS is not a JSON key set of public keys.',
  ERR_POLICY_SOURCE: 'A policy file could not be read or parsed: too large, too many, or not YAML.',
});

export type PolicyErrorCode = keyof typeof POLICY_ERRORS;

/** Codes of the compiler's warnings: the policy is accepted, but probably not what was meant. */
export const POLICY_WARNINGS = Object.freeze({
  WARN_POLICY_UNREACHABLE: 'A rule or operation can never match (e.g. a value both required and excluded).',
  WARN_POLICY_DUPLICATE_RULE: 'A rule repeats an earlier rule of the same policy and never decides anything.',
  WARN_POLICY_UNUSED: 'A permission or role is defined but nothing uses it.',
  WARN_POLICY_MFA_BYPASS:
    'An ALLOW rule without requireMfa may match requests that another rule allows only with MFA.',
});

export type PolicyWarningCode = keyof typeof POLICY_WARNINGS;
