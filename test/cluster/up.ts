// `npm run cluster:up`: starts a test cluster and keeps it until Ctrl-C, so that repeated
// integration runs skip the start-up (LANYARD_TEST_KUBECONFIG=<printed path>).
import { ensureClusterBinaries } from './binaries.ts';
import { startTestCluster } from './cluster.ts';

const cluster = await startTestCluster({ binDir: await ensureClusterBinaries() });
process.stdout.write(
  [
    '',
    `Test cluster up at ${cluster.server}. In another terminal:`,
    `  export LANYARD_TEST_KUBECONFIG=${cluster.kubeconfigPath}`,
    '  npm run test:integration',
    `  ${cluster.binDir}/kubectl --kubeconfig "$LANYARD_TEST_KUBECONFIG" get ns`,
    'Ctrl-C stops it and removes its data.',
    '',
  ].join('\n'),
);
let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  void cluster.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
setInterval(() => undefined, 1 << 30);
