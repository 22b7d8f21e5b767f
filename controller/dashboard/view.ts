// What the dashboard shows, computed once per request from the read model and the control
// plane's state: tables of display strings and a laid-out call graph. The server renders it
// as HTML and serves it as JSON; the page's script redraws from the JSON. Pure.
import type { AuthPolicyStatus } from '../../lib/policy/types.generated.ts';
import type { Block } from '../monitor/blocks.ts';
import type { ConnectedSidecar } from '../policy-stream.ts';
import { NO_PEER, OTHER, type Edge, type ModelSnapshot } from './model.ts';

export type { ConnectedSidecar };

export interface PolicyState {
  /** "namespace/name". */
  key: string;
  status: AuthPolicyStatus;
}

export interface ViewInputs {
  model: ModelSnapshot;
  sidecars: readonly ConnectedSidecar[];
  policies: readonly PolicyState[];
  blocks: readonly Block[];
  now: number;
}

export const SECTIONS = ['workloads', 'policies', 'calls', 'denials', 'blocks', 'anomalies'] as const;
export type SectionId = (typeof SECTIONS)[number];

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  /** Rows before the display cap. */
  total: number;
  /** Shown when there are no rows. */
  empty: string;
}

export interface GraphNode {
  id: string;
  label: string;
  x: number;
  y: number;
  /** Above the nodes of the upper half, below the others: away from the edges. */
  labelY: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  allow: number;
  deny: number;
  /** The line, shortened to stop at the nodes' circles. */
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  labelX: number;
  labelY: number;
  /** Full text for assistive technology and tooltips. */
  title: string;
}

export interface Graph {
  width: number;
  height: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Edges left out of the drawing (the table lists them all). */
  omitted: number;
}

export interface DashboardView {
  generatedMs: number;
  totals: { allow: number; deny: number; sidecars: number; blocks: number };
  graph: Graph;
  tables: Record<SectionId, Table>;
}

/** Rows shown per table; the totals say how many there were. */
export const MAX_ROWS = 500;
/** Edges drawn: the busiest ones. */
export const MAX_DRAWN_EDGES = 40;

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "in 42 min", "3 s ago": how far `ms` is from `now`. */
export function formatRelative(ms: number, now: number): string {
  const delta = Math.abs(ms - now);
  const amount =
    delta < 120_000
      ? `${Math.round(delta / 1000)} s`
      : delta < 2 * 3600_000
        ? `${Math.round(delta / 60_000)} min`
        : delta < 2 * 86_400_000
          ? `${Math.round(delta / 3600_000)} h`
          : `${Math.round(delta / 86_400_000)} days`;
  return ms >= now ? `in ${amount}` : `${amount} ago`;
}

/** "demo/web" for spiffe://<td>/ns/demo/sa/web; anything else as it is. */
export function shortName(id: string): string {
  if (id === NO_PEER) return 'no client certificate';
  if (id === OTHER) return 'other';
  const match = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  return match ? `${match[1]}/${match[2]}` : id;
}

function table(title: string, columns: string[], rows: string[][], empty: string): Table {
  return { title, columns, rows: rows.slice(0, MAX_ROWS), total: rows.length, empty };
}

function conditionText(status: AuthPolicyStatus, type: string): string {
  const condition = status.conditions?.find((c) => c.type === type);
  return condition ? `${condition.status} (${condition.reason})` : 'Unknown';
}

function workloadRows(sidecars: readonly ConnectedSidecar[], now: number): string[][] {
  return [...sidecars]
    .sort((a, b) =>
      a.spiffeId === b.spiffeId ? (a.podName < b.podName ? -1 : 1) : a.spiffeId < b.spiffeId ? -1 : 1,
    )
    .map((s) => [
      s.spiffeId,
      s.podName,
      `${formatTime(s.certificateExpiresMs)} (${s.certificateExpiresMs > now ? formatRelative(s.certificateExpiresMs, now) : `expired ${formatRelative(s.certificateExpiresMs, now)}`})`,
      formatTime(s.connectedMs),
    ]);
}

function policyRows(policies: readonly PolicyState[]): string[][] {
  return [...policies]
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .map(({ key, status }) => [
      key,
      conditionText(status, 'Accepted'),
      conditionText(status, 'Ready'),
      String(status.selectedWorkloads ?? 0),
      (status.conditions ?? []).map((c) => `${c.type}: ${c.message}`).join(' — '),
    ]);
}

function busiest(a: Edge, b: Edge): number {
  return b.allow + b.deny - (a.allow + a.deny) || (a.from + a.to < b.from + b.to ? -1 : 1);
}

const WIDTH = 760;
const HEIGHT = 380;
const NODE_RADIUS = 20;

/** Nodes on an ellipse (sorted, so a layout is stable between polls), edges as straight arrows. */
export function layoutGraph(edges: readonly Edge[]): Graph {
  const drawable = edges.filter((e) => e.from !== e.to).sort(busiest);
  const drawn = drawable.slice(0, MAX_DRAWN_EDGES);
  const ids = [...new Set(drawn.flatMap((e) => [e.from, e.to]))].sort();
  const rx = WIDTH / 2 - 120;
  const ry = HEIGHT / 2 - 50;
  const nodes = ids.map((id, i) => {
    const angle = Math.PI + (2 * Math.PI * i) / ids.length;
    const y = Math.round(HEIGHT / 2 + ry * Math.sin(angle));
    return {
      id,
      label: shortName(id),
      x: Math.round(WIDTH / 2 + rx * Math.cos(angle)),
      y,
      labelY: y < HEIGHT / 2 - 1 ? y - NODE_RADIUS - 8 : y + NODE_RADIUS + 16,
    };
  });
  const at = new Map(nodes.map((n) => [n.id, n]));
  const keys = new Set(drawn.map((e) => `${e.from}\u0000${e.to}`));
  const graphEdges = drawn.map((edge): GraphEdge => {
    const a = at.get(edge.from)!;
    const b = at.get(edge.to)!;
    const length = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    const ux = (b.x - a.x) / length;
    const uy = (b.y - a.y) / length;
    // Calls both ways would draw on one line: each direction moves to its own side.
    const offset = keys.has(`${edge.to}\u0000${edge.from}`) ? 6 : 0;
    const px = -uy * offset;
    const py = ux * offset;
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      from: edge.from,
      to: edge.to,
      allow: edge.allow,
      deny: edge.deny,
      x1: round(a.x + ux * NODE_RADIUS + px),
      y1: round(a.y + uy * NODE_RADIUS + py),
      x2: round(b.x - ux * (NODE_RADIUS + 4) + px),
      y2: round(b.y - uy * (NODE_RADIUS + 4) + py),
      labelX: round((a.x + b.x) / 2 - uy * (offset + 10)),
      labelY: round((a.y + b.y) / 2 + ux * (offset + 10)),
      title: `${shortName(edge.from)} → ${shortName(edge.to)}: ${edge.allow} allowed, ${edge.deny} denied`,
    };
  });
  return { width: WIDTH, height: HEIGHT, nodes, edges: graphEdges, omitted: drawable.length - drawn.length };
}

export function buildView(inputs: ViewInputs): DashboardView {
  const { model, now } = inputs;
  const blocks = inputs.blocks.filter((b) => b.expiresMs > now);
  return {
    generatedMs: now,
    totals: { ...model.totals, sidecars: inputs.sidecars.length, blocks: blocks.length },
    graph: layoutGraph(model.edges),
    tables: {
      workloads: table(
        'Workloads',
        ['Identity (SPIFFE ID)', 'Pod', 'Certificate expires', 'Connected since'],
        workloadRows(inputs.sidecars, now),
        'No sidecar is connected.',
      ),
      policies: table(
        'AuthPolicies',
        ['Policy', 'Accepted', 'Ready', 'Selected workloads', 'Messages'],
        policyRows(inputs.policies),
        'No AuthPolicy is loaded.',
      ),
      calls: table(
        'Calls',
        ['Caller', 'Workload', 'Allowed', 'Denied', 'Last call'],
        [...model.edges]
          .sort(busiest)
          .map((e) => [
            shortName(e.from),
            shortName(e.to),
            String(e.allow),
            String(e.deny),
            formatTime(e.lastMs),
          ]),
        'No decision events yet.',
      ),
      denials: table(
        'Recent denials',
        ['Time', 'Caller', 'Workload', 'User', 'Request', 'Decided by', 'Reason', 'Status'],
        model.denials.map((d) => [
          formatTime(d.timeMs),
          d.peer ?? NO_PEER,
          shortName(d.reporter),
          d.user ?? '',
          `${d.method} ${d.path}`,
          d.policy ? `${d.policy}${d.rule ? ` rule ${d.rule}` : ''}` : 'no matching rule',
          d.reason,
          String(d.status),
        ]),
        'No denials yet.',
      ),
      blocks: table(
        'Active blocks',
        ['Type', 'Blocked', 'Reason', 'By', 'Expires', 'Id'],
        blocks.map((b) => [
          b.type,
          b.value,
          b.reason,
          b.by,
          `${formatTime(b.expiresMs)} (${formatRelative(b.expiresMs, now)})`,
          b.id,
        ]),
        'No active blocks.',
      ),
      anomalies: table(
        'Recent anomalies',
        ['Last seen', 'Kind', 'Subject', 'Count', 'Description', 'Block'],
        model.anomalies.map(({ detection, message, block }) => [
          formatTime(detection.lastMs),
          detection.kind,
          `${detection.subject.type} ${detection.subject.value}`,
          `${detection.count} (threshold ${detection.threshold})`,
          message,
          block ? `${block.id} until ${formatTime(block.expiresMs)}` : '',
        ]),
        'No anomalies detected.',
      ),
    },
  };
}
