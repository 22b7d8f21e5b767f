// The scripted sign-in of `lanyard dev`: the OpenID Connect code flow driven over HTTP as a
// browser and a public client would drive it. Authorization request with PKCE (S256), state
// and nonce; the login page and its CSRF token; password; the TOTP code when asked; the
// redirect back; the code exchange; the ID token checked (signature, issuer, audience, nonce).
// Nothing here reaches into the IdP: it sees only what travels over the wire.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { CookieJar } from './cookie-jar.ts';
import { devError } from './errors.ts';

export interface OidcClientOptions {
  /** The issuer URL; discovery must name exactly this issuer. */
  issuer: string;
  /** Extra trust anchor (PEM) for the IdP's TLS certificate. */
  caPem?: string;
  clientId: string;
  /** A redirect URI registered for the client; the client takes the code from it, never fetches it. */
  redirectUri: string;
  /** Per HTTP exchange. Default 10 s. */
  timeoutMs?: number;
}

export interface Credentials {
  username: string;
  password: string;
  /** The current one-time code, asked for only if the IdP wants a second factor. */
  totp?: () => Promise<string>;
  /**
   * The user's browser: its cookies outlive one sign-in, so the IdP sees a known device (the
   * session cookie is no shortcut: every sign-in asks for the password with prompt=login).
   * A fresh jar when absent.
   */
  browser?: CookieJar;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** What the ID token says, verified: safe to print, unlike the tokens. */
  sub: string;
  username: string | undefined;
  amr: string[];
  /** When the access token expires, ms since the epoch (from expires_in). */
  expiresAt: number;
}

/** A token endpoint's answer as it came: a refused refresh is a result, not an exception. */
export type TokenAnswer =
  { status: 200; tokens: Tokens } | { status: number; error: string; description: string };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

const MAX_BODY = 256 * 1024;
const random = (bytes = 32): string => randomBytes(bytes).toString('base64url');

function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The first POST form of a page: where it posts and its hidden fields (the CSRF token among them). */
export function parseForm(html: string): { action: string; hidden: Record<string, string> } | undefined {
  const form = /<form\b[^>]*\bmethod="post"[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const hidden: Record<string, string> = {};
  for (const [input] of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    if (!/\btype="hidden"/i.test(input)) continue;
    const name = /\bname="([^"]*)"/i.exec(input)?.[1];
    const value = /\bvalue="([^"]*)"/i.exec(input)?.[1];
    if (name !== undefined) hidden[decodeEntities(name)] = decodeEntities(value ?? '');
  }
  return { action: decodeEntities(form[1]!), hidden };
}

/** The message of a page's role="alert" region, for a clear error. */
function alertText(html: string): string | undefined {
  const match = /<p\b[^>]*role="alert"[^>]*>([\s\S]*?)<\/p>/i.exec(html);
  return match ? decodeEntities(match[1]!).trim() : undefined;
}

export class OidcClient {
  private readonly issuer: string;
  private readonly timeoutMs: number;
  private discovery: Discovery | undefined;

  constructor(private readonly options: OidcClientOptions) {
    this.issuer = options.issuer.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    if (!/^https?:\/\//.test(this.issuer)) throw new TypeError('issuer must be an http(s) URL');
  }

  private send(
    method: 'GET' | 'POST',
    url: URL,
    jar: CookieJar | undefined,
    form?: Record<string, string>,
  ): Promise<Answer> {
    // Only the IdP is ever contacted; a redirect elsewhere is read, never followed.
    if (url.origin !== new URL(this.issuer).origin) {
      return Promise.reject(devError('ERR_DEV_LOGIN_FLOW', `refusing to contact ${url.origin}`));
    }
    const body = form && new URLSearchParams(form).toString();
    const cookie = jar?.header(url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          ...(this.options.caPem !== undefined && { ca: this.options.caPem }),
          headers: {
            accept: 'text/html, application/json',
            ...(cookie && { cookie }),
            ...(body !== undefined && {
              'content-type': 'application/x-www-form-urlencoded',
              'content-length': Buffer.byteLength(body),
            }),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY) req.destroy(devError('ERR_DEV_LOGIN_FLOW', 'the IdP answer is too large'));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            jar?.store(url, res.headers['set-cookie']);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(devError('ERR_DEV_LOGIN_FLOW', `no answer from the IdP within ${this.timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  private async metadata(): Promise<Discovery> {
    if (this.discovery) return this.discovery;
    const answer = await this.send(
      'GET',
      new URL(`${this.issuer}/.well-known/openid-configuration`),
      undefined,
    );
    let document: Partial<Discovery> = {};
    try {
      if (answer.status === 200) document = JSON.parse(answer.body) as Partial<Discovery>;
    } catch {
      // Reported below like any other document that does not name this issuer.
    }
    // OIDC Discovery 4.3: the document must name the issuer it was fetched for.
    if (document.issuer !== this.issuer || !document.authorization_endpoint || !document.token_endpoint) {
      throw devError('ERR_DEV_LOGIN_FLOW', `${this.issuer} does not serve OpenID discovery for itself`);
    }
    this.discovery = document as Discovery;
    return this.discovery;
  }

  /** Signs the user in through the code flow; throws a DevError naming the step that failed. */
  async login(credentials: Credentials): Promise<Tokens> {
    const discovery = await this.metadata();
    const jar = credentials.browser ?? new CookieJar();
    const verifier = random();
    const state = random(16);
    const nonce = random(16);
    const authorize = new URL(discovery.authorization_endpoint);
    authorize.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.options.clientId,
      redirect_uri: this.options.redirectUri,
      scope: 'openid profile',
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      prompt: 'login',
    }).toString();

    let page = await this.send('GET', authorize, jar);
    page = await this.submit(page, authorize, jar, 'sign-in page', {
      username: credentials.username,
      password: credentials.password,
    });
    if (page.status === 401 || page.status === 429) {
      const retry = page.headers['retry-after'];
      throw devError(
        'ERR_DEV_LOGIN_REFUSED',
        `the IdP refused ${credentials.username}'s sign-in: ${alertText(page.body) ?? `status ${page.status}`}` +
          (retry ? ` (retry after ${String(retry)} s)` : ''),
        { status: page.status },
      );
    }
    let location = this.location(page, authorize);
    // Sent on to another page of the IdP rather than back to the client: the second factor.
    if (location?.origin === authorize.origin) {
      if (!credentials.totp) {
        throw devError(
          'ERR_DEV_LOGIN_FLOW',
          `the IdP asks ${credentials.username} for a second factor, and none is known`,
        );
      }
      const mfaPage = await this.send('GET', location, jar);
      page = await this.submit(mfaPage, location, jar, 'second-factor page', {
        code: await credentials.totp(),
      });
      if (page.status === 401 || page.status === 429) {
        throw devError(
          'ERR_DEV_MFA_REFUSED',
          `the IdP refused ${credentials.username}'s one-time code: ${alertText(page.body) ?? `status ${page.status}`}`,
          { status: page.status },
        );
      }
      location = this.location(page, location);
    }
    const code = this.codeFrom(location, state);
    const answer = await this.tokenRequest({
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.options.redirectUri,
      code_verifier: verifier,
    });
    if (!('tokens' in answer)) {
      throw devError(
        'ERR_DEV_TOKEN_REFUSED',
        `the code exchange was refused: ${answer.error} (${answer.description})`,
      );
    }
    if (answer.nonce !== nonce) {
      throw devError('ERR_DEV_LOGIN_FLOW', 'the ID token does not carry the nonce of this sign-in');
    }
    return answer.tokens;
  }

  /** Rotates a refresh token; a refusal comes back as the token endpoint's answer. */
  async refresh(refreshToken: string): Promise<TokenAnswer> {
    const answer = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken });
    return 'tokens' in answer ? { status: 200, tokens: answer.tokens } : answer;
  }

  /** Fills the page's form (hidden fields as given, the CSRF token among them) and posts it. */
  private async submit(
    page: Answer,
    pageUrl: URL,
    jar: CookieJar,
    what: string,
    fields: Record<string, string>,
  ): Promise<Answer> {
    const form = page.status === 200 ? parseForm(page.body) : undefined;
    if (!form || form.hidden.csrf === undefined) {
      const why = this.location(page, pageUrl)?.searchParams.get('error_description') ?? alertText(page.body);
      throw devError(
        'ERR_DEV_LOGIN_FLOW',
        `expected the ${what} with its CSRF token, got status ${page.status}${why ? `: ${why}` : ''}`,
      );
    }
    return this.send('POST', new URL(form.action, pageUrl), jar, { ...form.hidden, ...fields });
  }

  private location(answer: Answer, base: URL): URL | undefined {
    const header = answer.headers.location;
    return answer.status >= 300 && answer.status < 400 && typeof header === 'string'
      ? new URL(header, base)
      : undefined;
  }

  /** The code from the redirect back to the client, checked as RFC 6749 10.12 and RFC 9207 ask. */
  private codeFrom(location: URL | undefined, state: string): string {
    const expected = new URL(this.options.redirectUri);
    if (!location || `${location.origin}${location.pathname}` !== `${expected.origin}${expected.pathname}`) {
      throw devError('ERR_DEV_LOGIN_FLOW', 'the sign-in did not end with a redirect to the client');
    }
    const params = location.searchParams;
    if (params.get('iss') !== this.issuer)
      throw devError('ERR_DEV_LOGIN_FLOW', 'the redirect names another issuer');
    if (params.get('state') !== state)
      throw devError('ERR_DEV_LOGIN_FLOW', 'the redirect carries another state');
    const error = params.get('error');
    if (error)
      throw devError(
        'ERR_DEV_LOGIN_FLOW',
        `the IdP answered ${error}: ${params.get('error_description') ?? ''}`,
      );
    const code = params.get('code');
    if (!code) throw devError('ERR_DEV_LOGIN_FLOW', 'the redirect carries no code');
    return code;
  }

  private async tokenRequest(fields: Record<string, string>): Promise<TokenAnswer & { nonce?: unknown }> {
    const discovery = await this.metadata();
    const answer = await this.send('POST', new URL(discovery.token_endpoint), undefined, {
      client_id: this.options.clientId,
      ...fields,
    });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(answer.body) as Record<string, unknown>;
    } catch {
      throw devError('ERR_DEV_LOGIN_FLOW', `the token endpoint answered ${answer.status} without JSON`);
    }
    if (answer.status !== 200) {
      return {
        status: answer.status,
        error: typeof body.error === 'string' ? body.error : `status ${answer.status}`,
        description: typeof body.error_description === 'string' ? body.error_description : '',
      };
    }
    const { access_token, refresh_token, id_token, expires_in } = body;
    if (
      typeof access_token !== 'string' ||
      typeof refresh_token !== 'string' ||
      typeof id_token !== 'string'
    ) {
      throw devError('ERR_DEV_LOGIN_FLOW', 'the token response lacks an access, refresh or ID token');
    }
    const claims = await this.verifyIdToken(id_token);
    return {
      status: 200,
      nonce: claims.nonce,
      tokens: {
        accessToken: access_token,
        refreshToken: refresh_token,
        sub: String(claims.sub),
        username: typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined,
        amr: Array.isArray(claims.amr) ? claims.amr.map(String) : [],
        expiresAt: Date.now() + Number(expires_in ?? 0) * 1000,
      },
    };
  }

  private async verifyIdToken(idToken: string): Promise<Record<string, unknown>> {
    const discovery = await this.metadata();
    const jwks = await this.send('GET', new URL(discovery.jwks_uri), undefined);
    try {
      const { payload } = await jwtVerify(idToken, createLocalJWKSet(JSON.parse(jwks.body) as never), {
        issuer: this.issuer,
        audience: this.options.clientId,
        algorithms: ['ES256'],
      });
      return payload;
    } catch (error) {
      throw devError('ERR_DEV_LOGIN_FLOW', `the ID token does not verify: ${(error as Error).message}`);
    }
  }
}
