// A small cookie jar for the scripted sign-in (RFC 6265, the parts a login needs): host-only
// cookies, Path, Secure, Max-Age/Expires. A cookie naming a Domain is refused rather than
// widened to other hosts.

interface Cookie {
  name: string;
  value: string;
  host: string;
  path: string;
  secure: boolean;
  /** Milliseconds since the epoch; undefined for a session cookie. */
  expiresAt: number | undefined;
}

const MAX_COOKIES = 50;
const MAX_COOKIE_LENGTH = 4096;

function defaultPath(url: URL): string {
  const path = url.pathname;
  if (!path.startsWith('/') || path.lastIndexOf('/') === 0) return '/';
  return path.slice(0, path.lastIndexOf('/'));
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export class CookieJar {
  private cookies: Cookie[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Takes the Set-Cookie headers of a response to `url`; malformed ones are ignored, as a browser does. */
  store(url: URL, setCookie: readonly string[] | string | undefined): void {
    for (const header of [setCookie ?? []].flat()) {
      if (header.length > MAX_COOKIE_LENGTH) continue;
      const [pair = '', ...attributes] = header.split(';');
      const equals = pair.indexOf('=');
      const name = pair.slice(0, equals).trim();
      if (equals <= 0 || name === '') continue;
      const cookie: Cookie = {
        name,
        value: pair.slice(equals + 1).trim(),
        host: url.hostname,
        path: defaultPath(url),
        secure: false,
        expiresAt: undefined,
      };
      let refused = false;
      for (const attribute of attributes) {
        const [key = '', ...rest] = attribute.split('=');
        const value = rest.join('=').trim();
        switch (key.trim().toLowerCase()) {
          case 'path':
            if (value.startsWith('/')) cookie.path = value;
            break;
          case 'secure':
            cookie.secure = true;
            break;
          case 'max-age':
            if (/^-?\d+$/.test(value)) cookie.expiresAt = this.now() + Number(value) * 1000;
            break;
          case 'expires':
            if (cookie.expiresAt === undefined && !Number.isNaN(Date.parse(value)))
              cookie.expiresAt = Date.parse(value);
            break;
          case 'domain':
            refused ||= value.replace(/^\./, '').toLowerCase() !== url.hostname.toLowerCase();
            break;
        }
      }
      // A Secure cookie set over plain http is refused (RFC 6265bis 5.6).
      if (refused || (cookie.secure && url.protocol !== 'https:')) continue;
      this.cookies = this.cookies.filter(
        (c) => !(c.name === cookie.name && c.host === cookie.host && c.path === cookie.path),
      );
      if (cookie.expiresAt === undefined || cookie.expiresAt > this.now()) this.cookies.push(cookie);
      if (this.cookies.length > MAX_COOKIES) this.cookies.shift();
    }
  }

  /** The Cookie header for a request to `url`, or undefined when no cookie applies. */
  header(url: URL): string | undefined {
    const now = this.now();
    this.cookies = this.cookies.filter((c) => c.expiresAt === undefined || c.expiresAt > now);
    const matching = this.cookies
      .filter(
        (c) =>
          c.host === url.hostname &&
          pathMatches(url.pathname, c.path) &&
          (!c.secure || url.protocol === 'https:'),
      )
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}
