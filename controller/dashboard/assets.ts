// The dashboard's stylesheet and script, served as files (/assets/...) because the CSP allows
// no inline script or style. Kept as strings so that the build (tsc to dist/) carries them.
// The script polls /api/state and redraws with DOM APIs only (textContent, setAttribute):
// no HTML is ever parsed from data.

export const DASHBOARD_CSS = `
:root { color-scheme: light; font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
body { margin: 0; }
header { display: flex; align-items: center; gap: 1.5rem; padding: 0.6rem 1.5rem; background: #1f3a5f; color: #fff; }
header h1 { font-size: 1.3rem; margin: 0; }
header .status { margin: 0; flex: 1; }
header button { font: inherit; }
main { padding: 0.5rem 1.5rem 2rem; display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 0 1.5rem; }
main > section { min-width: 0; }
#denials { grid-column: 1 / -1; }
h2 { font-size: 1.05rem; margin: 1rem 0 0.4rem; }
h2 .count { font-weight: normal; color: #4a5563; }
.scroll { overflow: auto; max-height: 22rem; background: #fff; border: 1px solid #d0d5dc; }
table { border-collapse: collapse; width: 100%; font-size: 0.82rem; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #e3e6ea; vertical-align: top; overflow-wrap: anywhere; }
th { white-space: nowrap; }
th { position: sticky; top: 0; background: #eef1f5; }
#graph { display: block; max-width: 100%; height: auto; }
#graph .node circle { fill: #dbe7f7; stroke: #1f3a5f; stroke-width: 2; }
#graph .node text { font-size: 12px; fill: #1b1f24; }
#graph .edge line { stroke: #3b7d3b; stroke-width: 2; }
#graph .edge.has-deny line { stroke: #b42318; }
#graph .edge text { font-size: 12px; font-weight: bold; fill: #1b1f24; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
#graph marker path { fill: #4a5563; }
body.login main { display: block; max-width: 26rem; margin: 4rem auto; background: #fff; padding: 1.5rem; border: 1px solid #d0d5dc; }
body.login label { display: block; margin: 1rem 0 0.3rem; }
body.login input[type=password] { width: 100%; box-sizing: border-box; font: inherit; padding: 0.4rem; }
body.login button { margin-top: 1rem; font: inherit; padding: 0.4rem 1rem; }
.error { color: #b42318; font-weight: bold; }
`;

export const DASHBOARD_JS = `'use strict';
(function () {
  var SVG = 'http://www.w3.org/2000/svg';
  var SECTIONS = ['workloads', 'policies', 'calls', 'denials', 'blocks', 'anomalies'];
  var POLL_MS = 2000;

  function text(tag, content) {
    var node = document.createElement(tag);
    node.textContent = content;
    return node;
  }

  function svg(tag, attributes, content) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) { node.setAttribute(name, String(attributes[name])); });
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function fillTable(id, table) {
    var body = document.querySelector('#' + id + '-table tbody');
    var rows;
    if (table.rows.length === 0) {
      var cell = text('td', table.empty);
      cell.setAttribute('colspan', String(table.columns.length));
      var row = document.createElement('tr');
      row.append(cell);
      rows = [row];
    } else {
      rows = table.rows.map(function (cells) {
        var tr = document.createElement('tr');
        cells.forEach(function (value) { tr.append(text('td', value)); });
        return tr;
      });
    }
    body.replaceChildren.apply(body, rows);
    var shown = table.rows.length < table.total ? ' (showing ' + table.rows.length + ' of ' + table.total + ')' : '';
    document.getElementById(id + '-count').textContent = table.total + shown;
  }

  function drawGraph(graph) {
    var root = document.getElementById('graph');
    root.querySelectorAll('g').forEach(function (group) { group.remove(); });
    root.setAttribute('viewBox', '0 0 ' + graph.width + ' ' + graph.height);
    graph.edges.forEach(function (e) {
      var group = svg('g', { class: 'edge ' + (e.deny > 0 ? 'has-deny' : 'all-allow') });
      group.append(
        svg('title', {}, e.title),
        svg('line', { x1: e.x1, y1: e.y1, x2: e.x2, y2: e.y2, 'marker-end': 'url(#arrow)' }),
        svg('text', { x: e.labelX, y: e.labelY, 'text-anchor': 'middle' }, e.allow + ' / ' + e.deny)
      );
      root.append(group);
    });
    graph.nodes.forEach(function (n) {
      var group = svg('g', { class: 'node' });
      group.append(
        svg('title', {}, n.id),
        svg('circle', { cx: n.x, cy: n.y, r: 20 }),
        svg('text', { x: n.x, y: n.labelY, 'text-anchor': 'middle' }, n.label)
      );
      root.append(group);
    });
    document.getElementById('graph-desc').textContent = graph.edges.length === 0
      ? 'No calls yet.'
      : graph.edges.length + ' caller to workload edges; labels read allowed / denied. The Calls table lists the same counts.';
    document.getElementById('graph-omitted').textContent =
      graph.omitted > 0 ? graph.omitted + ' quieter edges are not drawn.' : '';
  }

  function show(view) {
    var t = view.totals;
    document.getElementById('updated').textContent =
      'Updated ' + new Date(view.generatedMs).toISOString().slice(0, 19) + 'Z';
    document.getElementById('totals').textContent =
      t.allow + ' allowed, ' + t.deny + ' denied, ' + t.sidecars + ' sidecars, ' + t.blocks + ' blocks';
    drawGraph(view.graph);
    SECTIONS.forEach(function (id) { fillTable(id, view.tables[id]); });
  }

  function poll() {
    fetch('/api/state', { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign('/login');
          return undefined;
        }
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json().then(show);
      })
      .catch(function (error) {
        document.getElementById('updated').textContent = 'Update failed (' + error.message + '), retrying';
      })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }

  setTimeout(poll, POLL_MS);
})();
`;
