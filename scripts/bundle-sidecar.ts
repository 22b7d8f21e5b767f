// Builds the sidecar's shipped form: cli/sidecar-main.ts and everything it imports in one
// CommonJS file (docs/adr/0009-sidecar-single-file-bundle.md). One file instead of some 300
// modules saves each pod's sidecar about 6 MB of resident memory.
// `npx tsx scripts/bundle-sidecar.ts <outfile>`; `npm run build` writes dist/sidecar.cjs.
import { build, type Metafile, type Plugin } from 'esbuild';

const ROOT = new URL('../', import.meta.url).pathname;

/**
 * The sidecar imports lib/policy/index.ts, which re-exports the YAML policy loader it never
 * calls: yaml has no side effects at import, so the bundle can leave it out.
 */
const yamlWithoutSideEffects: Plugin = {
  name: 'yaml-without-side-effects',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^yaml$/ }, async (args) => {
      if (args.pluginData === 'resolved') return undefined;
      const resolved = await pluginBuild.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: 'resolved',
      });
      return { ...resolved, sideEffects: false };
    });
  },
};

export async function bundleSidecar(outfile: string): Promise<Metafile> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['cli/sidecar-main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // grpc-js requires @grpc/proto-loader only for channelz and ORCA, which the sidecar does
    // not use; if it ever did, the require resolves from node_modules.
    external: ['@grpc/proto-loader'],
    plugins: [yamlWithoutSideEffects],
    metafile: true,
    logLevel: 'warning',
  });
  return result.metafile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outfile = process.argv[2];
  if (!outfile) throw new Error('usage: tsx scripts/bundle-sidecar.ts <outfile>');
  await bundleSidecar(outfile);
}
