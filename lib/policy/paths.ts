// Path patterns: exact ("/orders"), prefix ("/static/*") and templates ("/orders/{id}", "/orders/{**}").
import { isLanyardError } from '../errors.ts';
import { normalizePath } from '../path.ts';

export interface PathMatcher {
  test(path: string): boolean;
}

const PARAM = /^\{([A-Za-z_][A-Za-z0-9_]*|\*|\*\*)\}$/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Checks one path pattern; returns why it is bad, or undefined. A pattern must be in the form
 * normalizePath gives, or it could never match a normalized request.
 */
export function checkPathPattern(pattern: string): string | undefined {
  const body = pattern.endsWith('*') && !pattern.endsWith('{**}') ? pattern.slice(0, -1) : pattern;
  if (body.replace(/\{\*\*?\}/g, '').includes('*')) return '"*" is allowed only at the end (a prefix)';
  if (body !== pattern && body.includes('{')) return 'a prefix pattern ("...*") may not also be a template';
  const segments = body.split('/').slice(1);
  const names = new Set<string>();
  for (const [i, segment] of segments.entries()) {
    if (!segment.includes('{') && !segment.includes('}')) continue;
    const param = PARAM.exec(segment)?.[1];
    if (param === undefined) return `segment "${segment}" must be a whole {name}, {*} or {**}`;
    if (param === '**' && i !== segments.length - 1) return '{**} is allowed only as the last segment';
    if (param !== '*' && param !== '**') {
      if (names.has(param)) return `template variable {${param}} is used twice`;
      names.add(param);
    }
  }
  const literal = segments.map((segment) => (segment.startsWith('{') ? 'x' : segment)).join('/');
  try {
    const normalized = normalizePath(`/${literal}`);
    if (normalized !== `/${literal}`)
      return `is not in normalized form (it would be matched as "${normalized}")`;
  } catch (error) {
    if (isLanyardError(error)) return error.message;
    throw error;
  }
  return undefined;
}

export function commonPrefix(texts: readonly string[]): string {
  let prefix = texts[0] ?? '';
  for (const text of texts) {
    let i = 0;
    while (i < prefix.length && i < text.length && prefix[i] === text[i]) i++;
    prefix = prefix.slice(0, i);
  }
  return prefix;
}

/** The literal text that starts every path a checked pattern matches. */
export function literalPrefix(pattern: string): string {
  if (pattern.endsWith('*') && !pattern.endsWith('{**}')) return pattern.slice(0, -1);
  const brace = pattern.indexOf('{');
  return brace < 0 ? pattern : pattern.slice(0, brace);
}

/** Compiles checked patterns into one matcher: exact paths by Set, the rest by prefix or RegExp. */
export function compilePathMatcher(patterns: readonly string[]): PathMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const templates: string[] = [];
  const literals: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('*') && !pattern.endsWith('{**}')) prefixes.push(pattern.slice(0, -1));
    else if (!pattern.includes('{')) exact.add(pattern);
    else {
      const source = pattern
        .split('/')
        .map((segment) => {
          const param = PARAM.exec(segment)?.[1];
          if (param === undefined) return escapeRegExp(segment);
          return param === '**' ? '.*' : '[^/]+';
        })
        .join('/');
      templates.push(source);
      literals.push(literalPrefix(pattern));
    }
  }
  const template = templates.length > 0 ? new RegExp(`^(?:${templates.join('|')})$`) : undefined;
  // Every path the template matches starts with the literal text that all templates share: a
  // path without it is refused without running the expression.
  const shared = commonPrefix(literals);
  return {
    test(path) {
      if (exact.has(path)) return true;
      for (let i = 0; i < prefixes.length; i++) if (path.startsWith(prefixes[i]!)) return true;
      return template !== undefined && path.startsWith(shared) && template.test(path);
    },
  };
}
