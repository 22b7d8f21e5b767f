import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

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

describe('lanyard sidecar process', () => {
  // Each module loaded stays in memory for the pod's life: the sidecar must not pull in the
  // controller or the Kubernetes client (that cost some 60 MB of RSS per pod), nor an X.509
  // library for its CSR (@peculiar/x509 with reflect-metadata, about 18 MB).
  it('loads neither the controller, the Kubernetes client nor an X.509 library', () => {
    const loaded = modulesLoadedBy('cli/sidecar-process.ts');
    expect(loaded.some((url) => url.endsWith('/sidecar/sidecar.ts'))).toBe(true);
    const forbidden = loaded.filter((url) =>
      /\/(controller|kube|idp)\/|@kubernetes\/client-node|\/fastify\/|@peculiar\/|reflect-metadata/.test(url),
    );
    expect(forbidden).toEqual([]);
  }, 180_000);

  // The gRPC contracts come from the generated schemas (proto/wire.ts): parsing the .proto files
  // at start cost each sidecar some 4 MB.
  it('parses no .proto file', () => {
    const loaded = modulesLoadedBy('cli/sidecar-process.ts');
    expect(loaded.some((url) => url.endsWith('/proto/wire.ts'))).toBe(true);
    expect(loaded.filter((url) => /@grpc\/proto-loader|\/protobufjs\//.test(url))).toEqual([]);
  }, 180_000);
});
