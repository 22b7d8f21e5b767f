// Summarizes V8 CPU profiles (not a test): npx tsx bench/profile.ts <file.cpuprofile>... [--top N]
// Prints self time by function (name, file:line) and its share of all samples, then the same
// grouped by file, so that the hot spots of a sidecar under `bench/dataplane.ts --profile DIR`
// can be named.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const files = args.filter((arg, i) => arg.endsWith('.cpuprofile') && args[i - 1] !== '--top');
if (files.length === 0) {
  console.error('usage: npx tsx bench/profile.ts <file.cpuprofile>... [--top N]');
  process.exit(2);
}

const short = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/(node_modules\/)/, '$1')
    .replace(/^.*\/dist-[^/]+\//, '');

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? `${short(frame.url)}:${frame.lineNumber + 1}` : '(native)';
    const key = `${frame.functionName || '(anonymous)'} ${where}`;
    self.set(key, (self.get(key) ?? 0) + 1);
    const group = frame.url ? short(frame.url) : frame.functionName;
    byFile.set(group, (byFile.get(group) ?? 0) + 1);
  }
  const total = profile.samples.length;
  // The share of busy time (samples not idle) is what says where the CPU went.
  const busy = total - (byFile.get('(idle)') ?? 0);
  const print = (title: string, counts: Map<string, number>) => {
    console.log(`\n${title} (share of all samples, share of busy samples)`);
    for (const [key, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      const share = (of: number) => `${((count / of) * 100).toFixed(1).padStart(5)}%`;
      console.log(`${share(total)} ${key.startsWith('(idle)') ? '      ' : share(busy)}  ${key}`);
    }
  };
  console.log(`== ${file}: ${total} samples, ${busy} busy`);
  print('self time by function', self);
  print('self time by file', byFile);
}
