// Exact, prefix ("abc*"), suffix ("*abc") and any ("*") matching of principals, namespaces, hosts.

export interface StringMatcher {
  test(value: string): boolean;
}

/** Compiles a list of patterns into one matcher: a Set lookup plus the few wildcard patterns. */
export function compileStringMatcher(patterns: readonly string[], lowercase = false): StringMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  let any = false;
  for (const raw of patterns) {
    const pattern = lowercase ? raw.toLowerCase() : raw;
    if (pattern === '*') any = true;
    else if (pattern.endsWith('*')) prefixes.push(pattern.slice(0, -1));
    else if (pattern.startsWith('*')) suffixes.push(pattern.slice(1));
    else exact.add(pattern);
  }
  if (any) return { test: () => true };
  // The common case, exact values only, is one Set lookup.
  if (prefixes.length === 0 && suffixes.length === 0) {
    return { test: (input) => exact.has(lowercase ? input.toLowerCase() : input) };
  }
  return {
    test(input) {
      const value = lowercase ? input.toLowerCase() : input;
      return (
        exact.has(value) ||
        prefixes.some((prefix) => value.startsWith(prefix)) ||
        suffixes.some((suffix) => value.endsWith(suffix))
      );
    },
  };
}
