// `lanyard check`: evaluates one request offline against a folder of AuthPolicies and explains
// the decision. Exit code: 0 ALLOW, 1 DENY, 2 usage or policy errors.
import { parseArgs } from 'node:util';
import { explainDecision } from '../lib/policy/explain.ts';
import { loadPolicyFolder } from '../lib/policy/folder.ts';
import { evaluate } from '../lib/policy/index.ts';
import type { CliIo } from './run.ts';
import { buildRequest, parseWorkload, readClaims, UsageError } from './request-args.ts';

export const checkUsage = `Usage: lanyard check --policies <dir> --to <namespace>[/<label>=<value>,...] [options]

Evaluates one request against a folder of AuthPolicy YAML files, offline, and explains it.

Options:
  --policies <dir>      Folder of AuthPolicy YAML files (required)
  --to <workload>       The called workload: its namespace and pod labels (required)
  --from <spiffe-id>    The caller's SPIFFE ID (omit for a plaintext caller)
  --method <method>     Default GET
  --path <path>         Default /
  --host <host>         Default localhost
  --port <port>         Default 80
  --token <jwt|file>    The user's claims: a JWT (decoded, not verified) or a JSON/YAML file
  --root-namespace <ns> Namespace of mesh-wide policies (default lanyard-system)
  --default <action>    Mesh default for unselected workloads: ALLOW (default) or DENY
`;

export function runCheck(args: string[], io: CliIo): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        policies: { type: 'string' },
        to: { type: 'string' },
        from: { type: 'string' },
        method: { type: 'string' },
        path: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        token: { type: 'string' },
        'root-namespace': { type: 'string' },
        default: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(checkUsage);
      return Promise.resolve(0);
    }
    if (!values.policies || !values.to) throw new UsageError('--policies and --to are required');
    if (values.default !== undefined && values.default !== 'ALLOW' && values.default !== 'DENY') {
      throw new UsageError('--default must be ALLOW or DENY');
    }
    const loaded = loadPolicyFolder(values.policies, {
      ...(values['root-namespace'] ? { rootNamespace: values['root-namespace'] } : {}),
      ...(values.default ? { defaultAction: values.default } : {}),
    });
    for (const message of loaded.messages) io.err(`warning: ${message}\n`);
    const workload = parseWorkload(values.to);
    const request = buildRequest({
      from: values.from,
      method: values.method,
      path: values.path,
      host: values.host,
      port: values.port,
      claims: values.token === undefined ? undefined : readClaims(values.token),
    });
    const view = loaded.set.index.forWorkload(workload);
    const decision = evaluate(view, request);
    io.out(`${explainDecision(decision, view).join('\n')}\n`);
    return Promise.resolve(decision.decision === 'ALLOW' ? 0 : 1);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`lanyard check: ${(error as Error).message}\n\n${checkUsage}`);
      return Promise.resolve(2);
    }
    if ((error as { code?: string }).code === 'ENOENT') {
      io.err(`lanyard check: ${(error as Error).message}\n`);
      return Promise.resolve(2);
    }
    throw error;
  }
}
