// Small SVG charts for the benchmark report: no dependency, deterministic output.

const COLORS: Record<string, string> = { direct: '#888', nginx: '#2a7', lanyard: '#c33' };

function colorOf(label: string): string {
  const key = Object.keys(COLORS).find((name) => label.startsWith(name));
  return key ? COLORS[key]! : '#469';
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars, one per entry, coloured by the path its label starts with; an optional target line. */
export function barChart(options: {
  title: string;
  bars: { label: string; value: number }[];
  target?: { value: number; label: string };
}): string {
  const { title, bars, target } = options;
  const labelWidth = 170;
  const plotWidth = 380;
  const rowHeight = 22;
  const top = 28;
  const height = top + bars.length * rowHeight + 24;
  const finite = bars.map((bar) => (Number.isFinite(bar.value) ? bar.value : 0));
  const max = Math.max(...finite, target?.value ?? 0) * 1.1 || 1;
  const x = (value: number) => labelWidth + (value / max) * plotWidth;
  const rows = bars.map((bar, i) => {
    const y = top + i * rowHeight;
    const value = finite[i]!;
    return (
      `<text x="${labelWidth - 6}" y="${y + 14}" font-size="11" text-anchor="end">${escape(bar.label)}</text>` +
      `<rect x="${labelWidth}" y="${y + 3}" width="${(x(value) - labelWidth).toFixed(1)}" height="${rowHeight - 6}" fill="${colorOf(bar.label)}"/>` +
      `<text x="${(x(value) + 4).toFixed(1)}" y="${y + 14}" font-size="10">${value >= 100 ? value.toFixed(0) : value.toFixed(3)}</text>`
    );
  });
  const line = target
    ? `<line x1="${x(target.value).toFixed(1)}" x2="${x(target.value).toFixed(1)}" y1="${top}" y2="${height - 20}" stroke="#000" stroke-dasharray="4 3"/>` +
      `<text x="${x(target.value).toFixed(1)}" y="${height - 6}" font-size="10" text-anchor="middle">${escape(target.label)}</text>`
    : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 60}" height="${height}" font-family="sans-serif">` +
    `<text x="10" y="16" font-size="12" font-weight="bold">${escape(title)}</text>${rows.join('')}${line}</svg>\n`
  );
}
