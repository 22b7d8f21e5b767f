// HTML of the dashboard and its login page. Every dynamic string goes through escapeHtml; the
// pages carry no inline script or style (the CSP forbids them): the script and the stylesheet
// are files (assets.ts). Pure.
import { SECTIONS, formatTime, type DashboardView, type Graph, type Table } from './view.ts';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function head(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/assets/dashboard.css">
`;
}

export function renderTable(id: string, table: Table): string {
  const shown = table.rows.length < table.total ? ` (showing ${table.rows.length} of ${table.total})` : '';
  const body =
    table.rows.length === 0
      ? `<tr><td colspan="${table.columns.length}">${escapeHtml(table.empty)}</td></tr>`
      : table.rows
          .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`)
          .join('\n');
  return `<section id="${id}" aria-labelledby="${id}-heading">
<h2 id="${id}-heading">${escapeHtml(table.title)} <span class="count" id="${id}-count">${table.total}${escapeHtml(shown)}</span></h2>
<div class="scroll"><table id="${id}-table">
<thead><tr>${table.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr></thead>
<tbody>
${body}
</tbody>
</table></div>
</section>`;
}

export function renderGraph(graph: Graph): string {
  const nodes = graph.nodes
    .map(
      (n) =>
        `<g class="node"><title>${escapeHtml(n.id)}</title><circle cx="${n.x}" cy="${n.y}" r="20"></circle>` +
        `<text x="${n.x}" y="${n.labelY}" text-anchor="middle">${escapeHtml(n.label)}</text></g>`,
    )
    .join('\n');
  const edges = graph.edges
    .map(
      (e) =>
        `<g class="edge ${e.deny > 0 ? 'has-deny' : 'all-allow'}"><title>${escapeHtml(e.title)}</title>` +
        `<line x1="${e.x1}" y1="${e.y1}" x2="${e.x2}" y2="${e.y2}" marker-end="url(#arrow)"></line>` +
        `<text x="${e.labelX}" y="${e.labelY}" text-anchor="middle">${e.allow} / ${e.deny}</text></g>`,
    )
    .join('\n');
  const summary =
    graph.edges.length === 0
      ? 'No calls yet.'
      : `${graph.edges.length} caller to workload edges; labels read allowed / denied. The Calls table lists the same counts.`;
  return `<svg id="graph" role="img" aria-labelledby="graph-title graph-desc" viewBox="0 0 ${graph.width} ${graph.height}" width="${graph.width}" height="${graph.height}">
<title id="graph-title">Service-to-service calls</title>
<desc id="graph-desc">${escapeHtml(summary)}</desc>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"></path></marker></defs>
${edges}
${nodes}
</svg>`;
}

export function renderDashboard(view: DashboardView): string {
  const { totals } = view;
  return `${head('Lanyard dashboard')}<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<header>
<h1>Lanyard dashboard</h1>
<p class="status"><span id="updated">Updated ${escapeHtml(formatTime(view.generatedMs))}</span> ·
<span id="totals">${totals.allow} allowed, ${totals.deny} denied, ${totals.sidecars} sidecars, ${totals.blocks} blocks</span></p>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
</header>
<main>
<section aria-labelledby="graph-heading">
<h2 id="graph-heading">Call graph</h2>
<p>Callers (verified client certificates) to the workloads whose sidecars decided; each label reads allowed / denied.
Red arrows had denials. <span id="graph-omitted">${view.graph.omitted > 0 ? `${view.graph.omitted} quieter edges are not drawn.` : ''}</span></p>
<div class="scroll">${renderGraph(view.graph)}</div>
</section>
${SECTIONS.map((id) => renderTable(id, view.tables[id])).join('\n')}
</main>
</body>
</html>
`;
}

export function renderLogin(options: { csrf: string; error?: string }): string {
  return `${head('Sign in · Lanyard dashboard')}</head>
<body class="login">
<main>
<h1>Lanyard dashboard</h1>
${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<label for="token">Login token</label>
<input id="token" name="token" type="password" autocomplete="off" required maxlength="512">
<button type="submit">Sign in</button>
</form>
<p>The token is printed by <code>lanyard dev</code>; in a cluster it is in the Secret named in the chart's
<code>dashboard.tokenSecret</code>.</p>
</main>
</body>
</html>
`;
}
