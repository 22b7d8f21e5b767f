// Probe forwarding: the injector points the app's HTTP probes at the admin port under
// /app-health/<container>/<probe> (the kubelet probes in plaintext, which STRICT mTLS refuses),
// and this forwards each to the app's original probe on 127.0.0.1. Only the probes the pod
// declared exist; the prober's request is not passed on (no header, no body): the app gets the
// probe's declared httpHeaders, and only the status comes back, within a time and a size bound.
import { request as httpRequest, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';

export interface AppProbe {
  port: number;
  /** The original path, with its query if it had one. */
  path: string;
  scheme: 'HTTP' | 'HTTPS';
  /** The probe's httpHeaders, as the pod declared them. */
  headers?: [string, string][];
}

/** Bounds on LANYARD_APP_PROBES: a pod has a few containers with three probes each. */
export const MAX_PROBES = 64;
export const MAX_PROBES_TEXT = 64 * 1024;
export const MAX_PROBE_HEADERS = 16;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
// Printable, no control characters (so no header splitting); bounded.
const HEADER_VALUE = /^[\x20-\x7e]{0,1024}$/;
// The sidecar owns how the request is framed and carried.
const HOP_BY_HOP = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const PROBE_PATH = /^\/app-health\/[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\/(livez|readyz|startupz)$/;

function invalid(message: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message);
}

/** LANYARD_APP_PROBES: {"/app-health/app/readyz": {"port": 8080, "path": "/ready", "scheme": "HTTP"}}. */
export function parseAppProbes(text: string): Map<string, AppProbe> {
  if (text.length > MAX_PROBES_TEXT)
    invalid(`LANYARD_APP_PROBES is longer than ${MAX_PROBES_TEXT} characters`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    invalid('LANYARD_APP_PROBES is not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    invalid('LANYARD_APP_PROBES must be a JSON object');
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length > MAX_PROBES) invalid(`LANYARD_APP_PROBES has more than ${MAX_PROBES} probes`);
  const probes = new Map<string, AppProbe>();
  for (const [key, value] of entries) {
    if (!PROBE_PATH.test(key)) invalid(`LANYARD_APP_PROBES: "${key}" is not /app-health/<container>/<probe>`);
    const probe = value as Partial<AppProbe> | null;
    if (
      !probe ||
      typeof probe.port !== 'number' ||
      !Number.isInteger(probe.port) ||
      probe.port < 1 ||
      probe.port > 65535
    ) {
      invalid(`LANYARD_APP_PROBES: "${key}" needs a numeric port (1-65535)`);
    }
    if (typeof probe.path !== 'string' || !/^\/[\x21-\x7e]{0,2047}$/.test(probe.path)) {
      invalid(`LANYARD_APP_PROBES: "${key}" needs a path that starts with / (printable, at most 2048)`);
    }
    if (probe.scheme !== 'HTTP' && probe.scheme !== 'HTTPS') {
      invalid(`LANYARD_APP_PROBES: "${key}" needs scheme HTTP or HTTPS`);
    }
    probes.set(key, {
      port: probe.port,
      path: probe.path,
      scheme: probe.scheme,
      headers: parseHeaders(key, (probe as { headers?: unknown }).headers),
    });
  }
  return probes;
}

function parseHeaders(key: string, raw: unknown): [string, string][] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > MAX_PROBE_HEADERS) {
    invalid(
      `LANYARD_APP_PROBES: "${key}" headers must be a list of at most ${MAX_PROBE_HEADERS} [name, value] pairs`,
    );
  }
  return raw.map((pair: unknown) => {
    const [name, value] = Array.isArray(pair) && pair.length === 2 ? (pair as unknown[]) : [];
    if (typeof name !== 'string' || !HEADER_NAME.test(name) || HOP_BY_HOP.has(name.toLowerCase())) {
      invalid(`LANYARD_APP_PROBES: "${key}" has a header name that is not a token or is hop-by-hop`);
    }
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      invalid(`LANYARD_APP_PROBES: "${key}" has a header value that is not printable text of at most 1024`);
    }
    return [name, value];
  });
}

/** The defaults, then the declared headers, so that the pod may set its own User-Agent or Host. */
function probeHeaders(probe: AppProbe): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': 'lanyard-probe', accept: '*/*' };
  for (const [name, value] of probe.headers ?? []) headers[name.toLowerCase()] = value;
  return headers;
}

export interface AppHealthOptions {
  /** Default 5 s: longer than the kubelet's default probe timeout, so the kubelet decides. */
  timeoutMs?: number;
  /** The app's response body is relayed up to this many bytes. Default 4 KiB. */
  maxBodyBytes?: number;
  /** The app's address; 127.0.0.1 in a pod. */
  host?: string;
}

export interface AppHealth {
  /** Answers the request if `path` names a declared probe; false leaves it to the caller. */
  handle(path: string, response: ServerResponse): boolean;
}

export function createAppHealth(
  probes: ReadonlyMap<string, AppProbe>,
  options: AppHealthOptions = {},
): AppHealth {
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBodyBytes = options.maxBodyBytes ?? 4096;
  const host = options.host ?? '127.0.0.1';
  return {
    handle(path, response) {
      const probe = probes.get(path);
      if (!probe) return false;
      let answered = false;
      const answer = (status: number, body: Buffer | string) => {
        if (answered) return;
        answered = true;
        response.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(body);
      };
      const send = probe.scheme === 'HTTPS' ? httpsRequest : httpRequest;
      const upstream = send(
        {
          host,
          port: probe.port,
          path: probe.path,
          method: 'GET',
          headers: probeHeaders(probe),
          timeout: timeoutMs,
          agent: false,
          // The kubelet does not verify an HTTPS probe's certificate either.
          ...(probe.scheme === 'HTTPS' ? { rejectUnauthorized: false } : {}),
        },
        (reply) => {
          const chunks: Buffer[] = [];
          let size = 0;
          reply.on('data', (chunk: Buffer) => {
            if (size < maxBodyBytes) chunks.push(chunk.subarray(0, maxBodyBytes - size));
            size += chunk.length;
            // The status is known: there is no need to read an endless body.
            if (size >= maxBodyBytes) finish();
          });
          const finish = () => {
            answer(reply.statusCode ?? 502, Buffer.concat(chunks));
            reply.destroy();
          };
          reply.on('end', finish);
          reply.on('error', finish);
        },
      );
      const deadline = setTimeout(() => {
        upstream.destroy();
        answer(503, 'probe timed out\n');
      }, timeoutMs);
      upstream.on('close', () => clearTimeout(deadline));
      upstream.on('timeout', () => upstream.destroy(new Error('timeout')));
      upstream.on('error', () => answer(503, 'probe failed: the app did not answer\n'));
      upstream.end();
      return true;
    },
  };
}
