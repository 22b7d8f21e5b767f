// The one place the test cluster reads its environment.

/**
 * LANYARD_TEST_KUBECONFIG: run the integration tests against that cluster instead of starting
 * one (a cluster kept up by `npm run cluster:up`, or a real one such as kind). Never implied by
 * KUBECONFIG: tests create and delete objects, so pointing them at a cluster is an explicit act.
 */
export function externalKubeconfig(): string | undefined {
  const value = process.env.LANYARD_TEST_KUBECONFIG?.trim();
  return value ? value : undefined;
}
