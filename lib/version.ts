import { readFileSync } from 'node:fs';

/** The package version, read from the package.json that ships beside the code. */
export function lanyardVersion(): string {
  // Source (lib/) and compiled (dist/lib/) code sit one and two levels below the package root.
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'lanyard' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this level: try the next one
    }
  }
  return '0.0.0-unknown';
}
