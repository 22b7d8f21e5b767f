// Helpers for integration tests that talk to the real test cluster.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { AuthPolicyObject } from '../../controller/policy-controller.ts';
import { inject } from 'vitest';

const run = promisify(execFile);

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return kc;
}

/** A namespace name unique to this test, so that tests sharing one cluster never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Runs the cluster's kubectl against the test cluster; rejects with its stderr on failure. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const binary = join(inject('clusterBinDir'), 'kubectl');
  const child = run(binary, ['--kubeconfig', inject('kubeconfig'), ...args], {
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    return (await child).stdout;
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${failure.stderr || failure.message}`, {
      cause: error,
    });
  }
}

/** Reads an AuthPolicy (with its status) from the test cluster. */
export async function readAuthPolicy(namespace: string, name: string): Promise<AuthPolicyObject> {
  return (await kubeConfig().makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: 'lanyard.dev',
    version: 'v1alpha1',
    namespace,
    plural: 'authpolicies',
    name,
  })) as AuthPolicyObject;
}
