import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../scripts/bundle-sidecar.ts';

const ROOT = new URL('../', import.meta.url).pathname;

// Every module URL that importing `entry` loads, as seen by an ESM load hook in a child process.
function modulesLoadedBy(entry: string): string[] {
  const hook = `export async function load(url, context, next) {
    process.stderr.write('LOADED ' + url + '\\n');
    return next(url, context);
  }`;
  const script = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
    await import(${JSON.stringify(new URL(entry, `file://${ROOT}`).href)});
  `;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('LOADED '))
    .map((line) => line.slice('LOADED '.length));
}

const FORBIDDEN =
  /\/(controller|kube|idp)\/|@kubernetes\/client-node|\/fastify\/|@peculiar\/|reflect-metadata/;

describe('lanyard sidecar process', () => {
  // Each module loaded stays in memory for the pod's life: the sidecar must not pull in the
  // controller or the Kubernetes client (that cost some 60 MB of RSS per pod), nor an X.509
  // library for its CSR (@peculiar/x509 with reflect-metadata, about 18 MB).
  it('loads neither the controller, the Kubernetes client nor an X.509 library', () => {
    const loaded = modulesLoadedBy('cli/sidecar-process.ts');
    expect(loaded.some((url) => url.endsWith('/sidecar/sidecar.ts'))).toBe(true);
    const forbidden = loaded.filter((url) => FORBIDDEN.test(url));
    expect(forbidden).toEqual([]);
  }, 180_000);

  // The gRPC contracts come from the generated schemas (proto/wire.ts): parsing the .proto files
  // at start cost each sidecar some 4 MB.
  it('parses no .proto file', () => {
    const loaded = modulesLoadedBy('cli/sidecar-process.ts');
    expect(loaded.some((url) => url.endsWith('/proto/wire.ts'))).toBe(true);
    expect(loaded.filter((url) => /@grpc\/proto-loader|\/protobufjs\//.test(url))).toEqual([]);
  }, 180_000);

  // What the image runs: bin/lanyard.js hands `sidecar` to the single-file bundle.
  describe('bundled as the image ships it', () => {
    let dir = '';
    let inputs: string[] = [];
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'lanyard-sidecar-bundle-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('bundles none of those modules, nor a .proto parser or the YAML policy loader', async () => {
      mkdirSync(join(dir, 'dist'));
      const metafile = await bundleSidecar(join(dir, 'dist', 'sidecar.cjs'));
      // What is in the file (an import that the bundler drops is listed with no bytes).
      inputs = Object.values(metafile.outputs).flatMap((output) =>
        Object.entries(output.inputs)
          .filter(([, input]) => input.bytesInOutput > 0)
          .map(([path]) => path),
      );
      expect(inputs.some((path) => path.endsWith('sidecar/sidecar.ts'))).toBe(true);
      expect(inputs.filter((path) => FORBIDDEN.test(path))).toEqual([]);
      expect(inputs.filter((path) => /@grpc\/proto-loader|\/protobufjs\/|\/yaml\//.test(path))).toEqual([]);
    }, 60_000);

    it('runs from bin/lanyard.js without dist/cli and reports a missing configuration', () => {
      expect(inputs.length).toBeGreaterThan(0);
      cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const result = spawnSync(process.execPath, [join(dir, 'bin', 'lanyard.js'), 'sidecar'], {
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.stderr).toBe('lanyard sidecar: LANYARD_ROOTS_FILE is required\n');
      expect(result.status).toBe(2);
    }, 60_000);
  });
});
