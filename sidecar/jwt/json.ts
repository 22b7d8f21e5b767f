/** Limits on a JSON object read from a token segment. */
export interface JsonLimits {
  /** Most members in the top-level object (the claims of a payload). */
  readonly maxMembers: number;
  /** Deepest nesting of objects and arrays, the top-level object counting as 1. */
  readonly maxDepth: number;
}

export type JsonObject = { readonly [key: string]: unknown };

export type StrictJsonResult =
  { readonly ok: true; readonly value: JsonObject } | { readonly ok: false; readonly reason: string };

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * Parses a JSON text that must be an object, rejecting duplicate member names at any depth,
 * too many top-level members and too deep nesting. Duplicate names matter for tokens: parsers
 * disagree on which duplicate wins ({"iss":"a","iss":"b"}), so a token carrying them is refused
 * rather than read one way here and another way elsewhere.
 */
export function parseStrictJsonObject(text: string, limits: JsonLimits): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  // The text is valid JSON, so a plain scan can follow its structure.
  const stack: (Set<string> | null)[] = [];
  let topLevelMembers = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '{' || char === '[') {
      stack.push(char === '{' ? new Set() : null);
      if (stack.length > limits.maxDepth) return { ok: false, reason: 'nested too deeply' };
    } else if (char === '}' || char === ']') {
      stack.pop();
    } else if (char === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const names = stack.at(-1);
      if (!names) continue;
      let next = i + 1;
      while (WHITESPACE.has(text[next] ?? '')) next++;
      if (text[next] !== ':') continue;
      const name = JSON.parse(text.slice(start, i + 1)) as string;
      if (names.has(name)) return { ok: false, reason: 'duplicate member name' };
      names.add(name);
      if (stack.length === 1 && ++topLevelMembers > limits.maxMembers) {
        return { ok: false, reason: 'too many members' };
      }
    }
  }
  return { ok: true, value: deepFreeze(value) as JsonObject };
}

function deepFreeze(value: unknown): unknown {
  if (typeof value === 'object' && value !== null) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}
