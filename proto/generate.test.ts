import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadCaProto } from './load.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(dir, path)] = readFileSync(path, 'utf8');
  }
  return out;
}

describe('proto/generated', () => {
  it('is what proto/generate.sh makes from the .proto files today', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lanyard-proto-'));
    try {
      execFileSync('bash', [join(here, 'generate.sh'), join(dir, 'out')], { stdio: 'pipe' });
      expect(files(join(dir, 'out'))).toEqual(files(join(here, 'generated')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('loads CertificateService with its three methods', () => {
    const { CertificateService } = loadCaProto();
    expect(Object.keys(CertificateService.service)).toEqual([
      'IssueX509SVID',
      'MintJWTSVID',
      'WatchTrustBundle',
    ]);
  });
});
