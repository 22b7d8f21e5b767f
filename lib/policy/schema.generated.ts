// Generated from crds/authpolicy.yaml by `npx tsx crds/generate.ts`. Do not edit by hand.
import type { SchemaNode } from './structural.ts';

export const AUTHPOLICY_SCHEMA: SchemaNode = {
  type: 'object',
  description:
    'AuthPolicy says who may call the workloads it selects, with which end-user tokens, and what they may do. Lanyard sidecars enforce it on every inbound request: DENY policies first, then ALLOW policies; a workload selected by any ALLOW policy refuses whatever no ALLOW rule permits, and a workload with no policy follows the mesh default.',
  required: ['spec'],
  properties: {
    apiVersion: {
      type: 'string',
      description: 'The versioned schema of this object (lanyard.dev/v1alpha1).',
    },
    kind: { type: 'string', description: 'The kind of this object (AuthPolicy).' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      description: 'The desired behaviour of the policy.',
      'x-kubernetes-validations': [
        {
          rule: "!has(self.action) || self.action == 'ALLOW' || !has(self.rules) || self.rules.all(r, !has(r.requireMfa) && !has(r.rateLimit))",
          message: 'requireMfa and rateLimit are allowed only in rules of an ALLOW policy',
          fieldPath: '.rules',
        },
      ],
      properties: {
        selector: {
          type: 'object',
          description:
            "Which pods of this namespace the policy applies to, by their labels. Without a selector the policy applies to every pod of the namespace; a policy in the mesh's root namespace (lanyard-system by default) applies to every pod of the mesh. An empty selector ({}) also selects every pod.",
          properties: {
            matchLabels: {
              type: 'object',
              description: 'Labels a pod must carry, all of them, with exactly these values.',
              maxProperties: 32,
              additionalProperties: { type: 'string', maxLength: 63 },
            },
            matchExpressions: {
              type: 'array',
              description: 'Label requirements a pod must meet, all of them.',
              maxItems: 16,
              items: {
                type: 'object',
                description: 'One label requirement.',
                required: ['key', 'operator'],
                'x-kubernetes-validations': [
                  {
                    rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
                    message:
                      'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
                  },
                ],
                properties: {
                  key: { type: 'string', description: 'The label key.', minLength: 1, maxLength: 317 },
                  operator: {
                    type: 'string',
                    description:
                      "How the label's value relates to values: In (one of them), NotIn (none of them, or no label), Exists (the label is set), DoesNotExist (it is not).",
                    enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
                  },
                  values: {
                    type: 'array',
                    description: 'The values for In and NotIn; empty for Exists and DoesNotExist.',
                    maxItems: 32,
                    items: { type: 'string', maxLength: 63 },
                  },
                },
              },
            },
          },
        },
        mtls: {
          type: 'string',
          description:
            'How selected workloads accept connections. STRICT accepts only mutual TLS from mesh workloads. PERMISSIVE also accepts plaintext from clients outside the mesh; such requests have no peer identity, so rules that name principals or namespaces never match them. When several policies select a workload, STRICT wins; when none sets it, the mesh default applies.',
          enum: ['STRICT', 'PERMISSIVE'],
        },
        action: {
          type: 'string',
          description:
            'What happens to a request that a rule matches. ALLOW permits it (and makes every selected workload refuse what no ALLOW rule permits). DENY refuses it, whatever any ALLOW policy says. AUDIT only logs the match and changes nothing.',
          enum: ['ALLOW', 'DENY', 'AUDIT'],
          default: 'ALLOW',
        },
        dryRun: {
          type: 'boolean',
          description:
            'Evaluate the policy and log what it would have decided, without enforcing it. Use it to try a policy on live traffic before turning it on.',
          default: false,
        },
        userTokens: {
          type: 'array',
          description:
            'The issuers of end-user JWTs that selected workloads accept. A request that carries a token from none of them, or an invalid token, is refused with 401; a request without a token has no user claims.',
          maxItems: 8,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['issuer'],
          items: {
            type: 'object',
            description: 'One trusted token issuer and how its tokens are read and passed on.',
            required: ['issuer', 'audiences'],
            'x-kubernetes-validations': [
              {
                rule: 'has(self.jwksUri) != has(self.jwks)',
                message: 'exactly one of jwksUri or jwks must be set',
              },
            ],
            properties: {
              issuer: {
                type: 'string',
                description: "The token's iss claim must equal this exactly (an https URL).",
                minLength: 1,
                maxLength: 256,
                'x-kubernetes-validations': [
                  {
                    rule: "isURL(self) && url(self).getScheme() == 'https'",
                    message: 'issuer must be an https URL',
                  },
                ],
              },
              jwksUri: {
                type: 'string',
                description:
                  'Where the issuer publishes its signing keys (a JWKS document). Must be an https URL.',
                maxLength: 512,
                'x-kubernetes-validations': [
                  {
                    rule: "isURL(self) && url(self).getScheme() == 'https'",
                    message: 'jwksUri must be an https URL',
                  },
                ],
              },
              jwks: {
                type: 'string',
                description:
                  'The issuer\'s signing keys inline, as a JWKS JSON document ({"keys": [...]}), for issuers that publish none. Public keys only.',
                maxLength: 16384,
              },
              audiences: {
                type: 'array',
                description: "The token's aud claim must contain at least one of these.",
                minItems: 1,
                maxItems: 16,
                items: { type: 'string', minLength: 1, maxLength: 256 },
              },
              from: {
                type: 'array',
                description:
                  'Where the token is read from, first match wins. Default: the Authorization header with the prefix "Bearer ".',
                maxItems: 4,
                items: {
                  type: 'object',
                  description: 'One place a token may be carried (a header or a cookie).',
                  'x-kubernetes-validations': [
                    {
                      rule: 'has(self.header) != has(self.cookie)',
                      message: 'exactly one of header or cookie must be set',
                    },
                    {
                      rule: '!has(self.prefix) || has(self.header)',
                      message: 'prefix is allowed only with header',
                    },
                  ],
                  properties: {
                    header: {
                      type: 'string',
                      description: 'The name of the request header that holds the token.',
                      maxLength: 128,
                      pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
                    },
                    prefix: {
                      type: 'string',
                      description:
                        'Text before the token in the header, removed before validation (e.g. "Bearer ").',
                      maxLength: 64,
                    },
                    cookie: {
                      type: 'string',
                      description: 'The name of the cookie that holds the token.',
                      maxLength: 128,
                      pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
                    },
                  },
                },
              },
              forward: {
                type: 'boolean',
                description:
                  'Pass the token on to the application (true, the default) or remove it from the request after validation (false).',
                default: true,
              },
              claimsToHeaders: {
                type: 'array',
                description:
                  'Verified claims copied into request headers for the application. Any such header sent by the client is removed first, so the app can trust it.',
                maxItems: 16,
                items: {
                  type: 'object',
                  description: 'One claim and the header it is copied to.',
                  required: ['claim', 'header'],
                  properties: {
                    claim: {
                      type: 'array',
                      description:
                        'Path to the claim, one key per item: [sub] is the subject, [realm_access, roles] is claims.realm_access.roles.',
                      minItems: 1,
                      maxItems: 8,
                      items: { type: 'string', minLength: 1, maxLength: 128 },
                    },
                    header: {
                      type: 'string',
                      description: 'The header to set. Arrays become comma-separated values, objects JSON.',
                      maxLength: 128,
                      pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
                    },
                  },
                },
              },
            },
          },
        },
        rolesClaim: {
          type: 'array',
          description:
            "Path to the claim that holds the user's roles, one key per item (default [roles]; Keycloak uses [realm_access, roles]). The claim may be an array of strings or a space-delimited string.",
          minItems: 1,
          maxItems: 8,
          default: ['roles'],
          items: { type: 'string', minLength: 1, maxLength: 128 },
        },
        permissions: {
          type: 'array',
          description:
            'Named operations that rules (to[].permission) and roles refer to. A request matches a permission when it matches every field that is set.',
          maxItems: 64,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: {
            type: 'object',
            description: 'One named set of operations.',
            required: ['name'],
            'x-kubernetes-validations': [
              {
                rule: 'has(self.methods) || has(self.hosts) || has(self.ports) || has(self.paths) || has(self.notMethods) || has(self.notHosts) || has(self.notPorts) || has(self.notPaths)',
                message: 'a permission needs at least one of methods, hosts, ports, paths or their negations',
              },
            ],
            properties: {
              name: {
                type: 'string',
                description: "The permission's name, unique in the policy.",
                minLength: 1,
                maxLength: 63,
                pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
              },
              methods: {
                type: 'array',
                description: 'HTTP methods, any of them (e.g. GET, POST; gRPC calls are POST).',
                maxItems: 16,
                items: { type: 'string', maxLength: 32, pattern: '^[A-Z][A-Z_-]*$' },
              },
              notMethods: {
                type: 'array',
                description: 'HTTP methods that must not be used.',
                maxItems: 16,
                items: { type: 'string', maxLength: 32, pattern: '^[A-Z][A-Z_-]*$' },
              },
              hosts: {
                type: 'array',
                description:
                  'Host names the request is addressed to (its Host or :authority, without the port), any of them. Exact ("api.shop.example"), prefix ("api.*"), suffix ("*.shop.example") or "*" for any. Compared case-insensitively.',
                maxItems: 32,
                items: {
                  type: 'string',
                  minLength: 1,
                  maxLength: 253,
                  pattern: '^(\\*|\\*?[A-Za-z0-9.-]+|[A-Za-z0-9.-]+\\*)$',
                },
              },
              notHosts: {
                type: 'array',
                description: 'Host names (same forms as hosts) the request must not be addressed to.',
                maxItems: 32,
                items: {
                  type: 'string',
                  minLength: 1,
                  maxLength: 253,
                  pattern: '^(\\*|\\*?[A-Za-z0-9.-]+|[A-Za-z0-9.-]+\\*)$',
                },
              },
              ports: {
                type: 'array',
                description: 'Destination ports of the workload, any of them.',
                maxItems: 16,
                items: { type: 'integer', minimum: 1, maximum: 65535 },
              },
              notPorts: {
                type: 'array',
                description: 'Destination ports the request must not be sent to.',
                maxItems: 16,
                items: { type: 'integer', minimum: 1, maximum: 65535 },
              },
              paths: {
                type: 'array',
                description:
                  'Request paths, any of them, matched after normalization (dot segments removed, repeated slashes merged, query and fragment dropped; case-sensitive). Exact ("/orders"), prefix ("/static/*" matches every path that starts with "/static/") or template: "{name}" or "{*}" matches one whole segment ("/orders/{id}"), and a last "{**}" matches the rest of the path, possibly empty ("/orders/{**}" matches "/orders/" and "/orders/1/items" but not "/orders").',
                maxItems: 32,
                items: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^/[^?#\\s]*$' },
              },
              notPaths: {
                type: 'array',
                description: 'Request paths (same forms as paths) the request must not have.',
                maxItems: 32,
                items: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^/[^?#\\s]*$' },
              },
            },
          },
        },
        roles: {
          type: 'array',
          description:
            "Roles carried by the user's token (in rolesClaim) mapped to the permissions they grant. A rule with to[].rolePermissions matches the operations that the user's roles grant; a condition when[].role tests a role directly.",
          maxItems: 64,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: {
            type: 'object',
            description: 'One role and what it grants.',
            required: ['name', 'permissions'],
            properties: {
              name: {
                type: 'string',
                description: "The role, exactly as it appears in the token's roles claim.",
                minLength: 1,
                maxLength: 128,
              },
              permissions: {
                type: 'array',
                description: 'Names of permissions (spec.permissions) the role grants.',
                minItems: 1,
                maxItems: 64,
                items: { type: 'string', maxLength: 63 },
              },
            },
          },
        },
        rules: {
          type: 'array',
          description:
            'The rules; a request matches the policy when it matches any rule. An ALLOW policy without rules allows nothing, so it refuses every request to the workloads it selects.',
          maxItems: 64,
          items: {
            type: 'object',
            description:
              'One rule: a request matches when it matches from, to and when (each list matches when any of its items does); a field left out matches everything.',
            'x-kubernetes-validations': [
              {
                rule: 'has(self.from) || has(self.to) || has(self.when)',
                message: 'a rule needs at least one of from, to or when',
              },
              {
                rule: "!has(self.rateLimit) || (self.rateLimit.by == 'claim') == has(self.rateLimit.claim)",
                message: 'rateLimit.claim must be set exactly when rateLimit.by is claim',
              },
            ],
            properties: {
              name: {
                type: 'string',
                description:
                  'A name for the rule, unique in the policy, used in decision logs and metrics (default: its index, rules[0]).',
                maxLength: 63,
                pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
              },
              from: {
                type: 'array',
                description: "Who may be the caller, by the peer's SPIFFE identity; any item matches.",
                minItems: 1,
                maxItems: 16,
                items: {
                  type: 'object',
                  description:
                    'Callers matching every field set here. A plaintext caller (PERMISSIVE mode) has no principal and no namespace: it never matches principals or namespaces, and always matches notPrincipals and notNamespaces.',
                  'x-kubernetes-validations': [
                    {
                      rule: 'has(self.principals) || has(self.notPrincipals) || has(self.namespaces) || has(self.notNamespaces)',
                      message:
                        'a source needs at least one of principals, notPrincipals, namespaces or notNamespaces',
                    },
                  ],
                  properties: {
                    principals: {
                      type: 'array',
                      description:
                        'SPIFFE IDs of callers, any of them. Exact ("spiffe://cluster.local/ns/shop/sa/web"), prefix ("spiffe://cluster.local/ns/shop/*"), suffix ("*/sa/web") or "*" for any mesh workload.',
                      maxItems: 64,
                      items: {
                        type: 'string',
                        minLength: 1,
                        maxLength: 256,
                        pattern: '^(\\*|\\*?[^*]+|[^*]+\\*)$',
                      },
                    },
                    notPrincipals: {
                      type: 'array',
                      description: 'SPIFFE IDs (same forms as principals) the caller must not have.',
                      maxItems: 64,
                      items: {
                        type: 'string',
                        minLength: 1,
                        maxLength: 256,
                        pattern: '^(\\*|\\*?[^*]+|[^*]+\\*)$',
                      },
                    },
                    namespaces: {
                      type: 'array',
                      description:
                        'Namespaces of callers in this mesh\'s trust domain, any of them: exact ("shop"), prefix ("team-*"), suffix ("*-prod") or "*".',
                      maxItems: 64,
                      items: {
                        type: 'string',
                        minLength: 1,
                        maxLength: 64,
                        pattern: '^(\\*|\\*?[a-z0-9-]+|[a-z0-9-]+\\*)$',
                      },
                    },
                    notNamespaces: {
                      type: 'array',
                      description: 'Namespaces (same forms as namespaces) the caller must not be in.',
                      maxItems: 64,
                      items: {
                        type: 'string',
                        minLength: 1,
                        maxLength: 64,
                        pattern: '^(\\*|\\*?[a-z0-9-]+|[a-z0-9-]+\\*)$',
                      },
                    },
                  },
                },
              },
              to: {
                type: 'array',
                description: 'What the request may do; any item matches.',
                minItems: 1,
                maxItems: 16,
                items: {
                  type: 'object',
                  description:
                    "One operation: a named permission, the permissions granted by the user's roles, or an inline operation (methods, hosts, ports, paths and their negations; every field set must match).",
                  'x-kubernetes-validations': [
                    {
                      rule: '[has(self.permission), has(self.rolePermissions), has(self.methods) || has(self.hosts) || has(self.ports) || has(self.paths) || has(self.notMethods) || has(self.notHosts) || has(self.notPorts) || has(self.notPaths)].filter(x, x).size() == 1',
                      message: 'set exactly one of permission, rolePermissions, or inline operation fields',
                    },
                    {
                      rule: '!has(self.rolePermissions) || self.rolePermissions',
                      message: 'rolePermissions may only be true; leave it out instead',
                    },
                  ],
                  properties: {
                    permission: {
                      type: 'string',
                      description: 'The name of a permission in spec.permissions.',
                      maxLength: 63,
                    },
                    rolePermissions: {
                      type: 'boolean',
                      description:
                        "True: the request must match a permission granted by one of the user's roles (spec.roles). A request without user claims never matches.",
                    },
                    methods: {
                      type: 'array',
                      description: 'HTTP methods, any of them (e.g. GET, POST; gRPC calls are POST).',
                      maxItems: 16,
                      items: { type: 'string', maxLength: 32, pattern: '^[A-Z][A-Z_-]*$' },
                    },
                    notMethods: {
                      type: 'array',
                      description: 'HTTP methods that must not be used.',
                      maxItems: 16,
                      items: { type: 'string', maxLength: 32, pattern: '^[A-Z][A-Z_-]*$' },
                    },
                    hosts: {
                      type: 'array',
                      description:
                        'Host names the request is addressed to (its Host or :authority, without the port), any of them. Exact ("api.shop.example"), prefix ("api.*"), suffix ("*.shop.example") or "*" for any. Compared case-insensitively.',
                      maxItems: 32,
                      items: {
                        type: 'string',
                        minLength: 1,
                        maxLength: 253,
                        pattern: '^(\\*|\\*?[A-Za-z0-9.-]+|[A-Za-z0-9.-]+\\*)$',
                      },
                    },
                    notHosts: {
                      type: 'array',
                      description: 'Host names (same forms as hosts) the request must not be addressed to.',
                      maxItems: 32,
                      items: {
                        type: 'string',
                        minLength: 1,
                        maxLength: 253,
                        pattern: '^(\\*|\\*?[A-Za-z0-9.-]+|[A-Za-z0-9.-]+\\*)$',
                      },
                    },
                    ports: {
                      type: 'array',
                      description: 'Destination ports of the workload, any of them.',
                      maxItems: 16,
                      items: { type: 'integer', minimum: 1, maximum: 65535 },
                    },
                    notPorts: {
                      type: 'array',
                      description: 'Destination ports the request must not be sent to.',
                      maxItems: 16,
                      items: { type: 'integer', minimum: 1, maximum: 65535 },
                    },
                    paths: {
                      type: 'array',
                      description:
                        'Request paths, any of them, matched after normalization (dot segments removed, repeated slashes merged, query and fragment dropped; case-sensitive). Exact ("/orders"), prefix ("/static/*" matches every path that starts with "/static/") or template: "{name}" or "{*}" matches one whole segment ("/orders/{id}"), and a last "{**}" matches the rest of the path, possibly empty ("/orders/{**}" matches "/orders/" and "/orders/1/items" but not "/orders").',
                      maxItems: 32,
                      items: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^/[^?#\\s]*$' },
                    },
                    notPaths: {
                      type: 'array',
                      description: 'Request paths (same forms as paths) the request must not have.',
                      maxItems: 32,
                      items: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^/[^?#\\s]*$' },
                    },
                  },
                },
              },
              when: {
                type: 'array',
                description:
                  'Conditions on the verified end-user claims, all of them. A request without a user token matches no condition.',
                minItems: 1,
                maxItems: 16,
                items: {
                  type: 'object',
                  description:
                    'One condition: a role, a group, a scope, or any claim by path. Claims may be strings, numbers, booleans or arrays of them.',
                  'x-kubernetes-validations': [
                    {
                      rule: '[has(self.role), has(self.group), has(self.scope), has(self.claim)].filter(x, x).size() == 1',
                      message: 'set exactly one of role, group, scope or claim',
                    },
                    {
                      rule: 'has(self.claim) == (has(self.values) || has(self.notValues) || has(self.present))',
                      message: 'values, notValues and present go with claim, and claim needs one of them',
                    },
                  ],
                  properties: {
                    role: {
                      type: 'string',
                      description: 'The user must have this role (in spec.rolesClaim).',
                      minLength: 1,
                      maxLength: 128,
                    },
                    group: {
                      type: 'string',
                      description: "The user's groups claim must contain this group.",
                      minLength: 1,
                      maxLength: 256,
                    },
                    scope: {
                      type: 'string',
                      description:
                        'The token must grant this OAuth scope, in its scope claim (a space-delimited string, RFC 8693) or its scp claim (an array).',
                      minLength: 1,
                      maxLength: 256,
                    },
                    claim: {
                      type: 'array',
                      description:
                        'Path to the claim, one key per item: [tenant] or [org, id] for the nested claims.org.id.',
                      minItems: 1,
                      maxItems: 8,
                      items: { type: 'string', minLength: 1, maxLength: 128 },
                    },
                    values: {
                      type: 'array',
                      description:
                        'The claim (or, for an array claim, one of its items) must equal one of these, compared as strings.',
                      maxItems: 32,
                      items: { type: 'string', maxLength: 256 },
                    },
                    notValues: {
                      type: 'array',
                      description:
                        'The claim (or any of its items) must equal none of these; a missing claim matches.',
                      maxItems: 32,
                      items: { type: 'string', maxLength: 256 },
                    },
                    present: {
                      type: 'boolean',
                      description: 'True if the claim must be present, false if it must be absent.',
                    },
                  },
                },
              },
              requireMfa: {
                type: 'object',
                description:
                  'Require multi-factor authentication for this rule (ALLOW policies only): the user\'s token must show it in its amr or acr claim. A request that matches the rule without it gets 401 with an RFC 9470 step-up challenge. An empty object ({}) means amr must contain "mfa".',
                properties: {
                  amr: {
                    type: 'array',
                    description:
                      'Authentication methods (RFC 8176), any of which the amr claim must contain, e.g. [mfa, hwk, otp].',
                    maxItems: 16,
                    items: { type: 'string', minLength: 1, maxLength: 64 },
                  },
                  acr: {
                    type: 'array',
                    description:
                      'Authentication context classes, one of which the acr claim must equal; sent as acr_values in the step-up challenge.',
                    maxItems: 16,
                    items: { type: 'string', minLength: 1, maxLength: 256 },
                  },
                },
              },
              rateLimit: {
                type: 'object',
                description:
                  'Limit the requests this rule allows (ALLOW policies only); excess requests get 429 with Retry-After. Each sidecar counts separately.',
                required: ['requests', 'per', 'by'],
                properties: {
                  requests: {
                    type: 'integer',
                    description: 'How many requests each key may make per period.',
                    minimum: 1,
                    maximum: 1000000,
                  },
                  per: {
                    type: 'string',
                    description: 'The period, a duration from 1s to 24h such as 1s, 1m, 1h or 1m30s.',
                    maxLength: 16,
                    pattern: '^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?$',
                    'x-kubernetes-validations': [
                      {
                        rule: "self != '' && duration(self) >= duration('1s') && duration(self) <= duration('24h')",
                        message: 'per must be a duration from 1s to 24h',
                      },
                    ],
                  },
                  by: {
                    type: 'string',
                    description:
                      "What each bucket is counted by: source (the caller's SPIFFE ID), user (the token's sub claim) or claim (the claim named in claim).",
                    enum: ['source', 'user', 'claim'],
                  },
                  claim: {
                    type: 'array',
                    description: 'Path to the claim that keys the bucket, when by is claim.',
                    minItems: 1,
                    maxItems: 8,
                    items: { type: 'string', minLength: 1, maxLength: 128 },
                  },
                },
              },
            },
          },
        },
      },
    },
    status: {
      type: 'object',
      description: 'What the controller observed; written by the controller only.',
      properties: {
        observedGeneration: {
          type: 'integer',
          format: 'int64',
          description: 'The metadata.generation this status describes.',
        },
        selectedWorkloads: {
          type: 'integer',
          format: 'int32',
          description: 'How many pods the policy currently selects.',
        },
        conditions: {
          type: 'array',
          description:
            'Accepted says whether the policy is valid and compiled (its message names the offending field when not); Ready says whether every selected sidecar enforces it.',
          maxItems: 8,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['type'],
          items: {
            type: 'object',
            description: 'One condition of the policy.',
            required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
            properties: {
              type: {
                type: 'string',
                description: "The condition's type, e.g. Accepted or Ready.",
                maxLength: 316,
              },
              status: {
                type: 'string',
                description: 'True, False or Unknown.',
                enum: ['True', 'False', 'Unknown'],
              },
              observedGeneration: {
                type: 'integer',
                format: 'int64',
                description: 'The metadata.generation this condition was set for.',
                minimum: 0,
              },
              lastTransitionTime: {
                type: 'string',
                format: 'date-time',
                description: 'When the status last changed.',
              },
              reason: {
                type: 'string',
                description: 'A CamelCase code for the last transition.',
                minLength: 1,
                maxLength: 1024,
              },
              message: { type: 'string', description: 'What happened, for humans.', maxLength: 32768 },
            },
          },
        },
      },
    },
  },
};
