// `lanyard blocks list|add|lift` (also `kubectl lanyard blocks ...`): the mesh-wide blocks, kept
// as AuthBlock objects in the control plane's namespace, read and written with the user's
// kubeconfig. Every controller replica mirrors them into what it pushes to its sidecars.
// Exit code: 0 done; 1 refused (no such block, the block cap reached); 2 usage, kubeconfig,
// permission or connection errors.
import { parseArgs } from 'node:util';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { apiStatus } from '../kube/api-errors.ts';
import { parseDuration } from '../lib/policy/duration.ts';
import {
  AUTHBLOCK,
  MAX_BLOCK_OBJECTS,
  blockName,
  parseBlockObject,
  type AuthBlockObject,
} from '../controller/monitor/block-object.ts';
import { writeBlockObject } from '../controller/monitor/block-store.ts';
import { validTarget, type Block, type BlockTarget } from '../controller/monitor/blocks.ts';
import type { CliIo } from './run.ts';
import { UsageError } from './request-args.ts';
import { printable } from './status-report.ts';
import { ReadError, describeFailure, loadKubeConfig, parseTimeout, withSignal } from './status.ts';

export const blocksUsage = `Usage: lanyard blocks list [options]
       lanyard blocks add (--principal <spiffe-id> | --user <subject> | --token <jti>) [--ttl 1h] [--reason <text>] [options]
       lanyard blocks lift <id> [options]
       (also: kubectl lanyard blocks ...)

Lists, adds and lifts the mesh-wide blocks: temporary denies of a workload (its SPIFFE ID), an
end-user subject or an end-user token id, enforced by every sidecar until they expire. Blocks are
AuthBlock objects in the control plane's namespace; detections make some automatically.
Adding a block that exists extends it to the later expiry. Lifting deletes it; a detector may
block the same target again if the behaviour goes on.
Exit code: 0 done, 1 refused (no such block, too many blocks), 2 usage or connection errors.

Options:
  --principal <id>      add: block a workload, by its SPIFFE ID
  --user <subject>      add: block an end user, by the sub claim of their tokens
  --token <jti>         add: block one end-user token, by its jti claim (never the whole token)
  --ttl <duration>      add: how long, 1s to 168h (default 1h)
  --reason <text>       add: why, at most 256 characters (shown in the list)
  -o, --output <fmt>    table (default) or json
  --kubeconfig <file>   Kubeconfig (default: $KUBECONFIG, else ~/.kube/config)
  --context <name>      Kubeconfig context (default: its current context)
  -n, --namespace <ns>  Namespace of the control plane (default lanyard-system)
  --timeout <seconds>   Give up on the API server after this long (default 15, at most 300)
`;

const DEFAULT_NAMESPACE = 'lanyard-system';
const DEFAULT_TTL = '1h';
const MAX_TTL_MS = 7 * 24 * 3600_000;
const PAGE = 500;
const MAX_REASON = 256;
const ID_SHAPE = /^(principal|user|token)-[0-9a-f]{32}$/;

export interface BlocksDeps {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/** A block as the CLI prints it in JSON. */
export interface BlockView {
  id: string;
  type: Block['type'];
  value: string;
  createdAt: string;
  expiresAt: string;
  reason: string;
  by: Block['by'];
}

function view(block: Block): BlockView {
  return {
    id: block.id,
    type: block.type,
    value: block.value,
    createdAt: new Date(block.createdMs).toISOString(),
    expiresAt: new Date(block.expiresMs).toISOString(),
    reason: block.reason,
    by: block.by,
  };
}

function inWords(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours}h` : `${Math.round(hours / 24)}d`;
}

/** The table of `lanyard blocks list`: soonest expiry first, every field made printable. */
export function formatBlockTable(blocks: readonly Block[], nowMs: number): string {
  if (blocks.length === 0) return 'No active blocks.\n';
  const rows = [
    ['ID', 'TYPE', 'TARGET', 'EXPIRES', 'BY', 'REASON'],
    ...[...blocks]
      .sort((a, b) => a.expiresMs - b.expiresMs || (a.id < b.id ? -1 : 1))
      .map((b) => [
        b.id,
        b.type,
        printable(b.value, 80),
        `in ${inWords(b.expiresMs - nowMs)} (${new Date(b.expiresMs).toISOString()})`,
        b.by,
        printable(b.reason, 60) || '-',
      ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export interface AddRequest {
  target: BlockTarget;
  ttlMs: number;
  reason: string;
}

/** Checks `add`'s options; throws UsageError with what to fix. */
export function parseAddRequest(values: {
  principal?: string | undefined;
  user?: string | undefined;
  token?: string | undefined;
  ttl?: string | undefined;
  reason?: string | undefined;
}): AddRequest {
  const given = (['principal', 'user', 'token'] as const).filter((type) => values[type] !== undefined);
  if (given.length !== 1) throw new UsageError('add needs exactly one of --principal, --user or --token');
  const type = given[0]!;
  const target: BlockTarget = { type, value: values[type]! };
  if (!validTarget(target)) {
    const what = {
      principal: 'a SPIFFE ID in canonical form (spiffe://<trust-domain>/ns/<ns>/sa/<sa>)',
      user: 'a user subject of 1 to 256 characters without control characters',
      token: "a token id (the token's jti claim, at most 128 printable characters), not a whole token",
    }[type];
    throw new UsageError(`--${type} must be ${what}`);
  }
  const ttlText = values.ttl ?? DEFAULT_TTL;
  const ttlMs = parseDuration(ttlText);
  if (ttlMs === undefined || ttlMs < 1000 || ttlMs > MAX_TTL_MS) {
    throw new UsageError(
      `--ttl must be a duration from 1s to 168h such as 10m or 2h, not "${printable(ttlText, 40)}"`,
    );
  }
  const reason = values.reason ?? '';
  // eslint-disable-next-line no-control-regex
  if (reason.length > MAX_REASON || /[\u0000-\u001f\u007f]/.test(reason)) {
    throw new UsageError(`--reason must be at most ${MAX_REASON} characters without control characters`);
  }
  return { target, ttlMs, reason };
}

/** An answer that is not a failure of the command: exit 1 with this message. */
class Refusal extends Error {
  override name = 'Refusal';
}

interface Session {
  api: CustomObjectsApi;
  namespace: string;
  server: string;
  timeoutSeconds: number;
  options: ReturnType<typeof withSignal>;
}

function failure(session: Session, what: string, error: unknown): Error {
  if (error instanceof ReadError || error instanceof Refusal) return error;
  if (apiStatus(error) === 404) {
    return new ReadError(
      `cannot ${what}: the API server has no AuthBlock resource in ${session.namespace} (install the lanyard-crds chart, or check --namespace)`,
    );
  }
  const described = describeFailure(what, error, session.timeoutSeconds, session.server);
  // describeFailure speaks of reading; here the verb is in `what`.
  return new ReadError(described.message.replace(/^cannot read /, 'cannot '));
}

async function listObjects(session: Session): Promise<AuthBlockObject[]> {
  const items: AuthBlockObject[] = [];
  let token: string | undefined;
  const { group, version, plural } = AUTHBLOCK;
  // The controller enforces at most MAX_BLOCK_OBJECTS; a few pages more show what it ignores.
  for (let page = 0; page * PAGE < MAX_BLOCK_OBJECTS + PAGE; page++) {
    const result = (await session.api.listNamespacedCustomObject(
      {
        group,
        version,
        plural,
        namespace: session.namespace,
        limit: PAGE,
        ...(token ? { _continue: token } : {}),
      },
      session.options,
    )) as { items: AuthBlockObject[]; metadata?: { _continue?: string } };
    items.push(...result.items);
    token = result.metadata?._continue || undefined;
    if (!token) return items;
  }
  throw new ReadError(`more than ${MAX_BLOCK_OBJECTS + PAGE} AuthBlocks: the list would be unbounded`);
}

async function list(session: Session, io: CliIo, json: boolean, now: number): Promise<number> {
  let objects: AuthBlockObject[];
  try {
    objects = await listObjects(session);
  } catch (error) {
    throw failure(session, 'list the AuthBlocks', error);
  }
  const blocks: Block[] = [];
  const ignored: { name: string; problem: string }[] = [];
  for (const object of objects) {
    const parsed = parseBlockObject(object, now, MAX_TTL_MS);
    if (parsed.kind === 'active') blocks.push(parsed.block);
    else if (parsed.kind === 'invalid') ignored.push({ name: parsed.name, problem: parsed.problem });
  }
  blocks.sort((a, b) => a.expiresMs - b.expiresMs || (a.id < b.id ? -1 : 1));
  if (json) {
    io.out(`${JSON.stringify({ blocks: blocks.map(view), ignored }, null, 2)}\n`);
  } else {
    io.out(formatBlockTable(blocks, now));
    for (const { name, problem } of ignored) {
      io.err(
        `warning: AuthBlock ${printable(name, 80)} is ignored by the controller: ${printable(problem)}\n`,
      );
    }
  }
  return 0;
}

async function countObjects(session: Session): Promise<number> {
  const { group, version, plural } = AUTHBLOCK;
  const result = (await session.api.listNamespacedCustomObject(
    { group, version, plural, namespace: session.namespace, limit: 1 },
    session.options,
  )) as { items: unknown[]; metadata?: { remainingItemCount?: number } };
  return result.items.length + (result.metadata?.remainingItemCount ?? 0);
}

async function add(
  session: Session,
  io: CliIo,
  request: AddRequest,
  json: boolean,
  now: number,
): Promise<number> {
  const { group, version, plural } = AUTHBLOCK;
  const name = blockName(request.target);
  let result: Awaited<ReturnType<typeof writeBlockObject>> | undefined;
  try {
    const exists = await session.api
      .getNamespacedCustomObject(
        { group, version, plural, namespace: session.namespace, name },
        session.options,
      )
      .then(
        () => true,
        (error: unknown) => {
          if (apiStatus(error) === 404) return false;
          throw error;
        },
      );
    if (!exists && (await countObjects(session)) >= MAX_BLOCK_OBJECTS) {
      throw new Refusal(
        `the mesh already holds ${MAX_BLOCK_OBJECTS} blocks, as many as the controller enforces`,
      );
    }
    // A replica extending the same block at the same moment makes a conflict: read again and retry.
    for (let attempt = 0; attempt < 5 && !result; attempt++) {
      try {
        result = await writeBlockObject(
          session.api,
          session.namespace,
          request.target,
          now + request.ttlMs,
          request.reason,
          'operator',
          now,
          session.options,
        );
      } catch (error) {
        if (apiStatus(error) !== 409 || attempt === 4) throw error;
      }
    }
  } catch (error) {
    throw failure(session, 'write the AuthBlock', error);
  }
  const [outcome, object] = result!;
  const parsed = parseBlockObject(object, now, MAX_TTL_MS + 60_000);
  if (parsed.kind !== 'active')
    throw new ReadError(`the AuthBlock ${name} was written but does not read back`);
  const block = parsed.block;
  if (json) {
    io.out(`${JSON.stringify({ outcome, block: view(block) }, null, 2)}\n`);
    return 0;
  }
  const target = `${block.type} ${printable(block.value, 120)}`;
  const until = new Date(block.expiresMs).toISOString();
  const said = {
    created: `blocked ${target} until ${until}`,
    extended: `extended the block of ${target} until ${until}`,
    unchanged: `${target} is already blocked until ${until}, later than asked; unchanged`,
  }[outcome];
  io.out(`${said} (id ${block.id})\n`);
  return 0;
}

async function lift(session: Session, io: CliIo, id: string, json: boolean, now: number): Promise<number> {
  const { group, version, plural } = AUTHBLOCK;
  const path = { group, version, plural, namespace: session.namespace, name: id };
  let object: AuthBlockObject;
  try {
    object = (await session.api.getNamespacedCustomObject(path, session.options)) as AuthBlockObject;
    await session.api.deleteNamespacedCustomObject(
      // The uid makes sure that the object read is the object deleted.
      { ...path, body: { preconditions: { uid: object.metadata?.uid } } },
      session.options,
    );
  } catch (error) {
    // 404 is either no such block or no AuthBlock resource at all: a list tells which.
    if (apiStatus(error) === 404) {
      const listing = await listObjects(session).catch(() => undefined);
      if (listing !== undefined) {
        throw new Refusal(
          `no block has the id ${id} in ${session.namespace} (lanyard blocks list shows them)`,
        );
      }
    }
    throw failure(session, `lift the block ${id}`, error);
  }
  const parsed = parseBlockObject(object, now, MAX_TTL_MS + 60_000);
  const what =
    parsed.kind === 'active'
      ? `${parsed.block.type} ${printable(parsed.block.value, 120)}`
      : 'an inactive block';
  if (json)
    io.out(
      `${JSON.stringify({ lifted: id, ...(parsed.kind === 'active' && { block: view(parsed.block) }) }, null, 2)}\n`,
    );
  else io.out(`lifted ${id} (${what})\n`);
  return 0;
}

export async function runBlocks(args: string[], io: CliIo, deps: BlocksDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const now = (deps.now ?? Date.now)();
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        principal: { type: 'string' },
        user: { type: 'string' },
        token: { type: 'string' },
        ttl: { type: 'string' },
        reason: { type: 'string' },
        output: { type: 'string', short: 'o' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.err(`lanyard blocks: ${(error as Error).message}\n\n${blocksUsage}`);
    return 2;
  }
  if (values.help) {
    io.out(blocksUsage);
    return 0;
  }

  const deadline = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    const [command, ...rest] = positionals;
    if (command !== 'list' && command !== 'add' && command !== 'lift') {
      throw new UsageError(
        command === undefined
          ? 'name a command: list, add or lift'
          : `unknown command "${printable(command, 40)}"`,
      );
    }
    const addOnly = (['principal', 'user', 'token', 'ttl', 'reason'] as const).filter(
      (o) => values[o] !== undefined,
    );
    if (command !== 'add' && addOnly.length > 0) throw new UsageError(`--${addOnly[0]} belongs to add`);
    const id = rest[0];
    if (command === 'lift' ? rest.length !== 1 : rest.length !== 0) {
      throw new UsageError(command === 'lift' ? 'lift takes one block id' : `${command} takes no arguments`);
    }
    if (command === 'lift' && !ID_SHAPE.test(id!)) {
      throw new UsageError(`"${printable(id!, 80)}" is not a block id (lanyard blocks list shows them)`);
    }
    const output = values.output ?? 'table';
    if (output !== 'table' && output !== 'json') throw new UsageError('--output must be table or json');
    if (values.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(values.namespace)) {
      throw new UsageError(`--namespace "${printable(values.namespace, 100)}" is not a namespace name`);
    }
    const request = command === 'add' ? parseAddRequest(values) : undefined;
    const timeoutSeconds = parseTimeout(values.timeout);
    const kc: KubeConfig = loadKubeConfig(values.kubeconfig, values.context, env);
    timer = setTimeout(() => deadline.abort(), timeoutSeconds * 1000);
    const session: Session = {
      api: kc.makeApiClient(CustomObjectsApi),
      namespace: values.namespace ?? DEFAULT_NAMESPACE,
      server: kc.getCurrentCluster()?.server ?? '',
      timeoutSeconds,
      options: withSignal(deadline.signal),
    };
    const json = output === 'json';
    if (command === 'list') return await list(session, io, json, now);
    if (command === 'add') return await add(session, io, request!, json, now);
    return await lift(session, io, id!, json, now);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`lanyard blocks: ${error.message}\n\n${blocksUsage}`);
      return 2;
    }
    if (error instanceof Refusal) {
      io.err(`lanyard blocks: ${error.message}\n`);
      return 1;
    }
    if (error instanceof ReadError) {
      io.err(`lanyard blocks: ${error.message}\n`);
      return 2;
    }
    throw error;
  } finally {
    clearTimeout(timer);
    deadline.abort();
  }
}
