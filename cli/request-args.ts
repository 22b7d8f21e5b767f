// Reads the request that `lanyard check` and `lanyard test` evaluate: who calls (a SPIFFE ID),
// which workload (namespace and labels), the operation, and the user's claims.
import { readFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { parse as parseYaml } from 'yaml';
import { normalizePath } from '../lib/path.ts';
import type { Claims, RequestContext, WorkloadRef } from '../lib/policy/index.ts';
import { parseSpiffeId } from '../lib/spiffe.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** "shop/app=orders,tier=web" → namespace shop with those labels; "shop" → no labels. */
export function parseWorkload(text: string): WorkloadRef {
  const [namespace, labelText] = text.split('/', 2);
  if (!namespace) throw new UsageError(`--to must be <namespace>[/<label>=<value>,...], not "${text}"`);
  const labels: Record<string, string> = {};
  for (const pair of (labelText ?? '').split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`label "${pair}" in --to is not <key>=<value>`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { namespace, labels };
}

/**
 * Claims for an offline check: a JWT (decoded without verifying its signature: this explains
 * what a valid token with these claims would get) or a JSON/YAML file of claims.
 */
export function readClaims(value: string): Claims {
  if (/^[\w-]+\.[\w-]+\.[\w-]*$/.test(value)) {
    try {
      return decodeJwt(value);
    } catch {
      throw new UsageError('--token is not a decodable JWT');
    }
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(value, 'utf8'));
  } catch (error) {
    throw new UsageError(`--token: cannot read claims from ${value}: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--token: ${value} does not hold a claims object`);
  }
  return parsed as Claims;
}

export interface RequestInput {
  from?: string;
  method?: string;
  path?: string;
  host?: string;
  port?: string | number;
  claims?: Claims;
}

export function buildRequest(input: RequestInput): RequestContext {
  let path;
  try {
    path = normalizePath(input.path ?? '/');
  } catch (error) {
    throw new UsageError(`the path is refused before any policy is evaluated: ${(error as Error).message}`);
  }
  if (input.from !== undefined) {
    try {
      parseSpiffeId(input.from);
    } catch (error) {
      throw new UsageError(`--from: ${(error as Error).message}`);
    }
  }
  const port = Number(input.port ?? 80);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be 1 to 65535');
  return {
    method: (input.method ?? 'GET').toUpperCase(),
    host: input.host ?? 'localhost',
    port,
    path,
    ...(input.from === undefined ? {} : { peer: input.from }),
    ...(input.claims === undefined ? {} : { claims: input.claims }),
  };
}
