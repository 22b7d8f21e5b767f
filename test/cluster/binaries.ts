import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const buildScript = fileURLToPath(new URL('./build.sh', import.meta.url));

/**
 * Runs test/cluster/build.sh, which builds the cluster binaries or finds them cached, and
 * resolves to their directory. Progress goes to stderr as it happens.
 */
export function ensureClusterBinaries(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      const binDir = out.trim().split('\n').at(-1);
      if (code === 0 && binDir) resolve(binDir);
      else
        reject(new Error(`test cluster: ${buildScript} failed with exit code ${code}; see its output above`));
    });
  });
}
