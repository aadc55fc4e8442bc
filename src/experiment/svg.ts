/**
 * The experiment's figures as standalone SVG: where each dataset's queries were routed
 * (RouterRetriever beside InstanceOracle, like the paper's Figure 6) and a 2-D projection of
 * queries and pilots coloured by domain (like its Figure 2).
 */

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

export function colorFor(names: readonly string[]): (name: string) => string {
  return (name) => PALETTE[Math.max(0, names.indexOf(name)) % PALETTE.length]!;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export interface RoutingShare {
  readonly dataset: string;
  /** system label -> expert -> query count */
  readonly bars: ReadonlyArray<{ readonly system: string; readonly counts: Readonly<Record<string, number>> }>;
}

/** Stacked 100% bars: one group per dataset, one bar per system. */
export function routingSharesSvg(rows: readonly RoutingShare[], experts: readonly string[], title: string): string {
  const color = colorFor(experts);
  const barH = 16;
  const left = 230;
  const width = 760;
  const plotW = width - left - 20;
  let y = 50;
  const parts: string[] = [];
  for (const r of rows) {
    parts.push(`<text x="10" y="${y + barH}" font-weight="bold">${esc(r.dataset)}</text>`);
    for (const b of r.bars) {
      const total = Object.values(b.counts).reduce((a, c) => a + c, 0) || 1;
      parts.push(`<text x="${left - 8}" y="${y + barH - 4}" text-anchor="end">${esc(b.system)}</text>`);
      let x = left;
      for (const e of experts) {
        const c = b.counts[e] ?? 0;
        if (c === 0) continue;
        const w = (c / total) * plotW;
        parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color(e)}"><title>${esc(e)}: ${c} (${((100 * c) / total).toFixed(1)}%)</title></rect>`);
        if (w > 34) parts.push(`<text x="${(x + w / 2).toFixed(1)}" y="${y + barH - 4}" text-anchor="middle" fill="#fff" font-size="10">${((100 * c) / total).toFixed(0)}%</text>`);
        x += w;
      }
      y += barH + 4;
    }
    y += 12;
  }
  const legend = experts.map((e, i) => `<rect x="${left + i * 120}" y="24" width="12" height="12" fill="${color(e)}"/><text x="${left + i * 120 + 16}" y="34">${esc(e)}</text>`).join("");
  return svgDoc(width, y + 10, title, legend + parts.join(""));
}

export interface ScatterPoint {
  readonly x: number;
  readonly y: number;
  readonly group: string;
  /** Pilots are drawn large with a label. */
  readonly label?: string;
}

export function scatterSvg(points: readonly ScatterPoint[], groups: readonly string[], title: string): string {
  const color = colorFor(groups);
  const [w, h, pad] = [760, 560, 40];
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (v: number) => pad + ((v - x0) / (x1 - x0 || 1)) * (w - 2 * pad - 140);
  const sy = (v: number) => h - pad - ((v - y0) / (y1 - y0 || 1)) * (h - 2 * pad);
  const dots = points.filter((p) => !p.label).map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.5" fill="${color(p.group)}" fill-opacity="0.55"/>`);
  const pilots = points.filter((p) => p.label).map((p) =>
    `<path d="M${sx(p.x).toFixed(1)},${(sy(p.y) - 8).toFixed(1)} l7,14 h-14 z" fill="${color(p.group)}" stroke="#000"/><text x="${(sx(p.x) + 9).toFixed(1)}" y="${(sy(p.y) + 4).toFixed(1)}" font-size="10">${esc(p.label!)}</text>`);
  const legend = groups.map((g, i) => `<circle cx="${w - 150}" cy="${50 + i * 18}" r="5" fill="${color(g)}"/><text x="${w - 140}" y="${54 + i * 18}">${esc(g)}</text>`).join("");
  const note = `<text x="${w - 150}" y="${60 + groups.length * 18}" font-size="10">▲ pilot (label: expert)</text>`;
  return svgDoc(w, h, title, dots.join("") + pilots.join("") + legend + note);
}

function svgDoc(w: number, h: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="#fff"/><text x="10" y="16" font-size="14" font-weight="bold">${esc(title)}</text>${body}</svg>\n`;
}
