// Checks a policy against the CRD's structural schema and CEL rules, with the API server's
// wording, so that a policy from a file is refused for the same reasons as in a cluster.
import { CEL_MIRRORS } from './cel-mirrors.ts';
import type { Diagnostic } from './model.ts';

/** The subset of a structural OpenAPI v3 schema that the AuthPolicy CRD uses. */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode;
  items?: SchemaNode;
  required?: string[];
  enum?: string[];
  default?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-validations'?: { rule: string; message: string; fieldPath?: string }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
}

const patterns = new Map<string, RegExp>();

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

class Checker {
  readonly problems: Diagnostic[] = [];

  private fail(path: string, message: string): void {
    this.problems.push({ code: 'ERR_POLICY_SCHEMA', path, message: `${path}: ${message}` });
  }

  check(node: SchemaNode, value: unknown, path: string): void {
    const actual = typeOf(value);
    if (node.type && actual !== node.type) {
      this.fail(
        path,
        `Invalid value: "${actual}": ${path} in body must be of type ${node.type}: "${actual}"`,
      );
      return;
    }
    if (node.enum && !node.enum.includes(value as string)) {
      const supported = node.enum.map((v) => JSON.stringify(v)).join(', ');
      this.fail(path, `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported}`);
      return;
    }
    const before = this.problems.length;
    if (typeof value === 'string') this.checkString(node, value, path);
    if (typeof value === 'number') this.checkNumber(node, value, path);
    if (Array.isArray(value)) this.checkArray(node, value, path);
    else if (actual === 'object') this.checkObject(node, value as Record<string, unknown>, path);
    // CEL rules assume a well-formed value: like the API server, skip them when the schema failed.
    if (this.problems.length > before) return;
    for (const rule of node['x-kubernetes-validations'] ?? []) {
      const mirror = CEL_MIRRORS[rule.message];
      if (!mirror) throw new Error(`no TypeScript mirror for the CEL rule "${rule.message}"`);
      if (!mirror(value)) {
        const at = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
        this.fail(at, `Invalid value: "${actual}": ${rule.message}`);
      }
    }
  }

  private checkString(node: SchemaNode, value: string, path: string): void {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (node.maxLength !== undefined && bytes > node.maxLength) {
      this.fail(path, `Too long: may not be more than ${node.maxLength} bytes`);
    }
    if (node.minLength !== undefined && value.length < node.minLength) {
      this.fail(
        path,
        `Invalid value: ${JSON.stringify(value)}: ${path} in body should be at least ${node.minLength} chars long`,
      );
    }
    if (node.pattern !== undefined) {
      let regexp = patterns.get(node.pattern);
      if (!regexp) patterns.set(node.pattern, (regexp = new RegExp(node.pattern, 'u')));
      if (!regexp.test(value)) {
        this.fail(
          path,
          `Invalid value: ${JSON.stringify(value)}: ${path} in body should match '${node.pattern}'`,
        );
      }
    }
  }

  private checkNumber(node: SchemaNode, value: number, path: string): void {
    if (node.minimum !== undefined && value < node.minimum) {
      this.fail(
        path,
        `Invalid value: ${value}: ${path} in body should be greater than or equal to ${node.minimum}`,
      );
    }
    if (node.maximum !== undefined && value > node.maximum) {
      this.fail(
        path,
        `Invalid value: ${value}: ${path} in body should be less than or equal to ${node.maximum}`,
      );
    }
  }

  private checkArray(node: SchemaNode, value: unknown[], path: string): void {
    if (node.maxItems !== undefined && value.length > node.maxItems) {
      this.fail(path, `Too many: ${value.length}: must have at most ${node.maxItems} items`);
      return;
    }
    if (node.minItems !== undefined && value.length < node.minItems) {
      this.fail(
        path,
        `Invalid value: ${value.length}: ${path} in body should have at least ${node.minItems} items`,
      );
    }
    const keys = node['x-kubernetes-list-map-keys'];
    const seen = new Set<string>();
    for (const [i, item] of value.entries()) {
      if (node.items) this.check(node.items, item, `${path}[${i}]`);
      if (keys && typeOf(item) === 'object') {
        const key = JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k]));
        if (seen.has(key)) this.fail(`${path}[${i}]`, `Duplicate value: ${key.slice(1, -1)}`);
        seen.add(key);
      }
    }
  }

  private checkObject(node: SchemaNode, value: Record<string, unknown>, path: string): void {
    const entries = Object.entries(value);
    if (node.maxProperties !== undefined && entries.length > node.maxProperties) {
      this.fail(path, `Too many: ${entries.length}: must have at most ${node.maxProperties} items`);
      return;
    }
    for (const key of node.required ?? []) {
      if (value[key] === undefined) this.fail(`${path}.${key}`, 'Required value');
    }
    for (const [key, child] of entries) {
      const childNode = node.properties?.[key] ?? node.additionalProperties;
      if (!childNode) {
        // metadata is checked by the API server's own rules, not this schema.
        if (node.properties === undefined) continue;
        this.fail(`${path}.${key}`, `unknown field "${path}.${key}"`);
        continue;
      }
      this.check(childNode, child, `${path}.${key}`);
    }
  }
}

/** Applies the schema's defaults to a copy of value, as the API server does before validation. */
export function applyDefaults(node: SchemaNode, value: unknown): unknown {
  if (Array.isArray(value)) return node.items ? value.map((item) => applyDefaults(node.items!, item)) : value;
  if (typeOf(value) !== 'object' || !node.properties) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, child] of Object.entries(node.properties)) {
    if (out[key] === undefined && child.default !== undefined) out[key] = structuredClone(child.default);
    if (out[key] !== undefined) out[key] = applyDefaults(child, out[key]);
  }
  return out;
}

/** Checks value against node; every problem found, each naming its field. */
export function checkSchema(node: SchemaNode, value: unknown, path: string): Diagnostic[] {
  const checker = new Checker();
  checker.check(node, value, path);
  return checker.problems;
}
