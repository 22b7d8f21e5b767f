import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // One module graph per worker: re-importing gRPC, the Kubernetes client and fastify
          // for every file cost more than the tests themselves. The unit tests keep no global state.
          isolate: false,
          include: ['{lib,proto,kube,ca,controller,sidecar,idp,cli}/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One real API server is shared by the whole project; files run one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
