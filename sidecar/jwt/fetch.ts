import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { LanyardError, type CoreErrorCode } from '../../lib/errors.ts';
import { sidecarError } from '../errors.ts';
import { parseStrictJsonObject } from './json.ts';
import type { JwksFetcher, JwksResponse } from './key-source.ts';

export interface HttpJwksFetcherOptions {
  /** Time allowed for DNS, TCP and TLS until the connection is up. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Time allowed for the whole exchange, body included. Default 10 s. */
  readonly totalTimeoutMs?: number;
  /** Largest response body accepted. Default 256 KiB. */
  readonly maxBytes?: number;
  /** Extra trust anchors (PEM) for the JWKS server; the system roots otherwise. */
  readonly ca?: string | readonly string[];
  /** Accept plain http URIs. For tests only: never set it in a deployment. */
  readonly allowInsecureHttpForTests?: boolean;
}

const LIMITS = {
  connectTimeoutMs: { default: 5_000, min: 1, max: 60_000 },
  totalTimeoutMs: { default: 10_000, min: 1, max: 120_000 },
  maxBytes: { default: 256 * 1024, min: 1024, max: 4 * 1024 * 1024 },
} as const;

function bounded(name: keyof typeof LIMITS, value: number | undefined): number {
  const limit = LIMITS[name];
  if (value === undefined) return limit.default;
  if (!Number.isInteger(value) || value < limit.min || value > limit.max) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      `${name} must be an integer in [${limit.min}, ${limit.max}]`,
      {
        [name]: value,
      },
    );
  }
  return value;
}

function failed(reason: string, cause?: unknown): LanyardError {
  return sidecarError('ERR_JWKS_FETCH_FAILED', { reason }, cause);
}

/** Reads max-age from Cache-Control: 0 for no-store or no-cache, undefined when absent. */
export function maxAgeOf(cacheControl: string | undefined): number | undefined {
  if (!cacheControl) return undefined;
  const directives = cacheControl
    .toLowerCase()
    .split(',')
    .map((part) => part.trim());
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0;
  for (const directive of directives) {
    const match = /^max-age=(\d{1,10})$/.exec(directive);
    if (match) return Number(match[1]);
  }
  return undefined;
}

/**
 * The JWKS fetcher used in deployments: one GET over https (system roots, or `ca`), no
 * redirects followed, no proxy, bounded connect and total time and body size, a 200 with a
 * JSON object body (duplicate member names refused) or a failure.
 */
export function createHttpJwksFetcher(options: HttpJwksFetcherOptions = {}): JwksFetcher {
  const connectTimeoutMs = bounded('connectTimeoutMs', options.connectTimeoutMs);
  const totalTimeoutMs = bounded('totalTimeoutMs', options.totalTimeoutMs);
  const maxBytes = bounded('maxBytes', options.maxBytes);
  const allowsInsecureHttp = options.allowInsecureHttpForTests === true;
  const ca = options.ca === undefined ? undefined : [options.ca].flat();

  function fetchJwks(uri: URL): Promise<JwksResponse> {
    return new Promise((resolvePromise, rejectPromise) => {
      const secure = uri.protocol === 'https:';
      if (!secure && !(allowsInsecureHttp && uri.protocol === 'http:')) {
        rejectPromise(failed('the JWKS URI must use https'));
        return;
      }
      let settled = false;
      const settle = (error: LanyardError | undefined, response?: JwksResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(totalTimer);
        clearTimeout(connectTimer);
        if (error) {
          request.destroy();
          rejectPromise(error);
        } else {
          resolvePromise(response!);
        }
      };
      const requestOptions: https.RequestOptions = {
        method: 'GET',
        headers: { accept: 'application/jwk-set+json, application/json' },
        agent: false,
        ...(secure && ca ? { ca } : {}),
      };
      const request = (secure ? https : http).request(uri, requestOptions);
      const totalTimer = setTimeout(() => settle(failed('timed out')), totalTimeoutMs);
      let connectTimer: NodeJS.Timeout | undefined;
      request.on('socket', (socket: Socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => settle(failed('connect timed out')), connectTimeoutMs);
        socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      request.on('error', (error) => settle(failed('request failed', error)));
      request.on('response', (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          settle(failed(`HTTP status ${response.statusCode}`));
          return;
        }
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          settle(failed('the response is larger than the limit'));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) settle(failed('the response is larger than the limit'));
          else chunks.push(chunk);
        });
        response.on('error', (error) => settle(failed('the response failed', error)));
        response.on('end', () => {
          const parsed = parseStrictJsonObject(Buffer.concat(chunks).toString('utf8'), {
            maxMembers: 64,
            maxDepth: 8,
          });
          if (!parsed.ok) {
            settle(failed(`the response is not a JSON object: ${parsed.reason}`));
            return;
          }
          const maxAgeSeconds = maxAgeOf(response.headers['cache-control']);
          settle(
            undefined,
            maxAgeSeconds === undefined ? { body: parsed.value } : { body: parsed.value, maxAgeSeconds },
          );
        });
      });
      request.end();
    });
  }

  return Object.freeze({ allowsInsecureHttp, fetchJwks });
}
