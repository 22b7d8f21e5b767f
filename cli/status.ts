// `lanyard status` (also `kubectl lanyard status`): reads the control plane's state with the
// user's kubeconfig and prints the report that cli/status-report.ts assesses.
// Exit code: 0 healthy, 1 something needs attention, 2 usage, kubeconfig or connection errors.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AdmissionregistrationV1Api,
  type ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { apiStatus } from '../kube/api-errors.ts';
import type { CliIo } from './run.ts';
import { UsageError } from './request-args.ts';
import {
  CONTROLLER_SELECTOR,
  INJECT_SELECTOR,
  LEASE_NAME,
  ROOTS_CONFIGMAP,
  WEBHOOK_CONFIG,
  assessStatus,
  formatReport,
  printable,
  type PolicyObject,
  type StatusSnapshot,
} from './status-report.ts';

export const statusUsage = `Usage: lanyard status [options]
       kubectl lanyard status [options]

Reports the health of the Lanyard control plane with your kubeconfig: the controller pods and
their leader, the CA roots' expiry, the injection webhook's caBundle, the injected namespaces
and every AuthPolicy that is not accepted. Exit code: 0 healthy, 1 something needs attention, 2 usage or connection errors.

Options:
  --kubeconfig <file>   Kubeconfig (default: $KUBECONFIG, else ~/.kube/config)
  --context <name>      Kubeconfig context (default: its current context)
  -n, --namespace <ns>  Namespace of the control plane (default lanyard-system)
  --webhook-config <name>
                        The injection MutatingWebhookConfiguration (default ${WEBHOOK_CONFIG})
  --timeout <seconds>   Give up on the API server after this long (default 15, at most 300)
`;

const DEFAULT_NAMESPACE = 'lanyard-system';
const PAGE = 500;
/** Namespaces and AuthPolicies are paged; this bounds how many pages one report reads. */
const MAX_PAGES = 200;

export interface StatusDeps {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/** A kubeconfig, API server or permission problem: the report cannot be made (exit 2). */
class ReadError extends Error {
  override name = 'ReadError';
}

function loadKubeConfig(
  path: string | undefined,
  context: string | undefined,
  env: NodeJS.ProcessEnv,
): KubeConfig {
  let files: string[];
  if (path !== undefined) {
    if (!existsSync(path)) throw new ReadError(`kubeconfig ${path} not found`);
    files = [path];
  } else if (env.KUBECONFIG) {
    files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '' && existsSync(f));
    if (files.length === 0) throw new ReadError(`no file of KUBECONFIG=${env.KUBECONFIG} exists`);
  } else {
    const home = join(env.HOME ?? homedir(), '.kube', 'config');
    if (!existsSync(home)) {
      throw new ReadError(`no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ${home}`);
    }
    files = [home];
  }
  // As kubectl does with a KUBECONFIG list: the first file that sets a value wins.
  const kc = new KubeConfig();
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (error) {
      throw new ReadError(`kubeconfig ${file} does not load: ${(error as Error).message}`);
    }
    if (kc.getContexts().length === 0) kc.loadFromFile(file);
    else kc.mergeConfig(one, true);
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) throw new ReadError(`kubeconfig has no context "${context}"`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new ReadError('kubeconfig has no current context with a cluster');
  return kc;
}

/** Every request carries the command's deadline, so an unreachable server cannot hang it. */
function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

function describeFailure(what: string, error: unknown, timeoutSeconds: number, server: string): ReadError {
  const status = apiStatus(error);
  if (status === 401)
    return new ReadError(`cannot read ${what}: the API server refused the kubeconfig's credentials`);
  if (status !== undefined) {
    let message = `HTTP ${status}`;
    try {
      const body = (error as ApiException<unknown>).body;
      const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown };
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // Not a Kubernetes Status object: the HTTP status says enough.
    }
    return new ReadError(`cannot read ${what}: ${printable(message)}`);
  }
  if ((error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError') {
    return new ReadError(`cannot read ${what}: no answer from ${server} within ${timeoutSeconds}s`);
  }
  return new ReadError(`cannot reach the API server ${server}: ${printable((error as Error).message)}`);
}

async function readSnapshot(
  kc: KubeConfig,
  namespace: string,
  webhookConfig: string,
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<StatusSnapshot> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const options = withSignal(signal);
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);

  const read = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      throw error instanceof ReadError ? error : describeFailure(what, error, timeoutSeconds, server);
    }
  };
  // Not found is an answer here (no Lease, no ConfigMap, no CRD), not a failure.
  const optional = async <T>(what: string, call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call();
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error instanceof ReadError ? error : describeFailure(what, error, timeoutSeconds, server);
    }
  };
  // A cluster-scoped object that a namespace operator may not be allowed to read.
  const unlessForbidden = async <T>(
    what: string,
    call: () => Promise<T>,
  ): Promise<T | undefined | 'forbidden'> => {
    try {
      return await call();
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      if (apiStatus(error) === 403) return 'forbidden';
      throw error instanceof ReadError ? error : describeFailure(what, error, timeoutSeconds, server);
    }
  };
  const paged = async <T>(
    list: (token: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
  ): Promise<T[]> => {
    const items: T[] = [];
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await list(token);
      items.push(...result.items);
      token = result.metadata?._continue || undefined;
      if (!token) return items;
    }
    throw new ReadError(`more than ${MAX_PAGES * PAGE} objects to list: the report would be unbounded`);
  };

  const [pods, lease, roots, namespaces, policies, webhook] = await Promise.all([
    read(`the controller pods in ${namespace}`, () =>
      core.listNamespacedPod({ namespace, labelSelector: CONTROLLER_SELECTOR, limit: PAGE }, options),
    ),
    optional(`the Lease ${namespace}/${LEASE_NAME}`, () =>
      coordination.readNamespacedLease({ name: LEASE_NAME, namespace }, options),
    ),
    optional(`the ConfigMap ${namespace}/${ROOTS_CONFIGMAP}`, () =>
      core.readNamespacedConfigMap({ name: ROOTS_CONFIGMAP, namespace }, options),
    ),
    read('the injected namespaces', () =>
      paged((token) =>
        core.listNamespace(
          { labelSelector: INJECT_SELECTOR, limit: PAGE, ...(token ? { _continue: token } : {}) },
          options,
        ),
      ),
    ),
    optional('the AuthPolicies', () =>
      paged(
        (token) =>
          custom.listClusterCustomObject(
            {
              group: 'lanyard.dev',
              version: 'v1alpha1',
              plural: 'authpolicies',
              limit: PAGE,
              ...(token ? { _continue: token } : {}),
            },
            options,
          ) as Promise<{ items: PolicyObject[]; metadata?: { _continue?: string } }>,
      ),
    ),
    unlessForbidden(`the MutatingWebhookConfiguration ${webhookConfig}`, () =>
      admission.readMutatingWebhookConfiguration({ name: webhookConfig }, options),
    ),
  ]);
  return {
    namespace,
    server,
    pods: pods.items,
    lease,
    roots,
    injectedNamespaces: namespaces.map((n) => n.metadata?.name ?? '?'),
    policies,
    webhook: { name: webhookConfig, config: webhook },
  };
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return 15;
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || seconds < 1 || seconds > 300) {
    throw new UsageError('--timeout must be a whole number of seconds from 1 to 300');
  }
  return seconds;
}

export async function runStatus(args: string[], io: CliIo, deps: StatusDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'webhook-config': { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    if (values.help) {
      io.out(statusUsage);
      return 0;
    }
    if (values.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(values.namespace)) {
      throw new UsageError(`--namespace "${printable(values.namespace, 100)}" is not a namespace name`);
    }
    const webhookConfig = values['webhook-config'];
    if (webhookConfig !== undefined && !/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/.test(webhookConfig)) {
      throw new UsageError(`--webhook-config "${printable(webhookConfig, 100)}" is not an object name`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`lanyard status: ${(error as Error).message}\n\n${statusUsage}`);
      return 2;
    }
    throw error;
  }

  const deadline = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeoutSeconds = parseTimeout(values.timeout);
    const kc = loadKubeConfig(values.kubeconfig, values.context, env);
    timer = setTimeout(() => deadline.abort(), timeoutSeconds * 1000);
    const snapshot = await readSnapshot(
      kc,
      values.namespace ?? DEFAULT_NAMESPACE,
      values['webhook-config'] ?? WEBHOOK_CONFIG,
      timeoutSeconds,
      deadline.signal,
    );
    const report = assessStatus(snapshot, (deps.now ?? Date.now)());
    io.out(formatReport(report));
    return report.problems === 0 ? 0 : 1;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`lanyard status: ${error.message}\n\n${statusUsage}`);
      return 2;
    }
    if (error instanceof ReadError) {
      io.err(`lanyard status: ${error.message}\n`);
      return 2;
    }
    throw error;
  } finally {
    clearTimeout(timer);
    // A failed read leaves the others in flight: cancel them so the process can exit now.
    deadline.abort();
  }
}
