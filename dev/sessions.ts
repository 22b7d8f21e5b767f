// The demo users' sessions with the built-in IdP. Each persona signs in once through the
// scripted flow and then reuses its access token, refreshing it (rotation) shortly before it
// expires: the IdP's throttles and detections never see a login storm from the demo.
import type { DevIdp } from './idp.ts';
import { CookieJar } from './cookie-jar.ts';
import { OidcClient, type Tokens } from './login.ts';

export type Persona = 'alice' | 'mallory' | 'bob-password' | 'bob-mfa';

const PERSONAS: Record<Persona, { username: string; mfa: boolean }> = {
  alice: { username: 'alice', mfa: false },
  mallory: { username: 'mallory', mfa: false },
  // Bob's session from before he enrolled an authenticator: password only, kept by refreshing.
  'bob-password': { username: 'bob', mfa: false },
  'bob-mfa': { username: 'bob', mfa: true },
};

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

export interface SessionEvent {
  kind: 'signed in' | 'refreshed' | 'enrolled TOTP';
  persona: Persona;
  /** Safe to print: never a token. */
  sub?: string;
  amr?: string[];
  expiresAt?: number;
}

export function formatSessionEvent(event: SessionEvent): string {
  const { username, mfa } = PERSONAS[event.persona];
  if (event.kind === 'enrolled TOTP')
    return `idp: ${username} enrolled a TOTP authenticator (demo secret below)`;
  const how = event.kind === 'signed in' ? (mfa ? ' with password + TOTP' : ' with password') : '';
  const expires = new Date(event.expiresAt!).toISOString().slice(11, 19);
  return (
    `idp: ${username} ${event.kind}${how}: sub ${event.sub!.slice(0, 8)}…, ` +
    `amr ${event.amr!.join(' ')}, access token expires ${expires}Z`
  );
}

export class DemoSessions {
  readonly client: OidcClient;
  private readonly held = new Map<Persona, Tokens>();
  /** One browser per user, kept across sign-ins, as a person's would be. */
  private readonly browsers = new Map<string, CookieJar>();

  constructor(
    private readonly idp: DevIdp,
    private readonly onEvent: (event: SessionEvent) => void = () => undefined,
  ) {
    this.client = new OidcClient({
      issuer: idp.issuer,
      caPem: idp.caPem,
      clientId: idp.clientId,
      redirectUri: idp.redirectUri,
    });
  }

  /**
   * Bob signs in with his password, then enrols TOTP: his first session stays password-only
   * (the mesh must send it back for step-up), his next sign-in needs the second factor.
   */
  async prepare(): Promise<void> {
    await this.tokens('bob-password');
    await this.idp.enrolTotp('bob');
    this.onEvent({ kind: 'enrolled TOTP', persona: 'bob-mfa' });
  }

  /** An access token of the persona valid for at least a minute. */
  async accessToken(persona: Persona): Promise<string> {
    return (await this.tokens(persona)).accessToken;
  }

  /** The persona's current tokens, signing in or refreshing as needed. */
  async tokens(persona: Persona): Promise<Tokens> {
    const current = this.held.get(persona);
    if (current && current.expiresAt - Date.now() > REFRESH_MARGIN_MS) return current;
    if (current) {
      const answer = await this.client.refresh(current.refreshToken);
      if ('tokens' in answer) return this.keep(persona, answer.tokens, 'refreshed');
      this.held.delete(persona);
    }
    const { username, mfa } = PERSONAS[persona];
    const user = this.idp.users.get(username)!;
    let browser = this.browsers.get(username);
    if (!browser) this.browsers.set(username, (browser = new CookieJar()));
    const tokens = await this.client.login({
      username,
      password: user.password,
      browser,
      ...(mfa && { totp: () => this.idp.totpCode(username) }),
    });
    return this.keep(persona, tokens, 'signed in');
  }

  /** Replaces the persona's tokens with ones obtained outside (the rotation step). */
  replace(persona: Persona, tokens: Tokens): void {
    this.keep(persona, tokens, 'refreshed');
  }

  /** Drops the persona's session: its next use signs in again. */
  forget(persona: Persona): void {
    this.held.delete(persona);
  }

  private keep(persona: Persona, tokens: Tokens, kind: SessionEvent['kind']): Tokens {
    this.held.set(persona, tokens);
    this.onEvent({ kind, persona, sub: tokens.sub, amr: tokens.amr, expiresAt: tokens.expiresAt });
    return tokens;
  }
}
