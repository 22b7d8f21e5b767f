// The remote key sources (and so the JWKS caches) of the sidecar, kept across policy snapshots:
// a new snapshot builds a new validator, but an issuer it keeps (same issuer, same JWKS URI)
// keeps its cached keys, so a policy change costs no JWKS refetch. Sources that the newest
// validator does not use are dropped.

export interface KeySourcePool<Source> {
  /** The source for this issuer and JWKS URI: the pooled one, or a new one from `make`. */
  sourceFor(issuer: string, jwksUri: string, make: () => Source): Source;
  /** Drops every source not named here: those of the newest snapshot's issuers. */
  retainOnly(used: readonly { issuer: string; jwksUri: string }[]): void;
  readonly size: number;
}

// A separator that neither an issuer nor a URI can hold, so two pairs never share a key.
const keyOf = (issuer: string, jwksUri: string) => `${issuer}\u0000${jwksUri}`;

export function createKeySourcePool<Source>(): KeySourcePool<Source> {
  const sources = new Map<string, Source>();
  return {
    sourceFor(issuer, jwksUri, make) {
      const key = keyOf(issuer, jwksUri);
      let source = sources.get(key);
      if (source === undefined) {
        source = make();
        sources.set(key, source);
      }
      return source;
    },
    retainOnly(used) {
      const keep = new Set(used.map(({ issuer, jwksUri }) => keyOf(issuer, jwksUri)));
      for (const key of sources.keys()) if (!keep.has(key)) sources.delete(key);
    },
    get size() {
      return sources.size;
    },
  };
}
