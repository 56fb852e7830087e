// The end-to-end latency chart of docs/benchmarks.md: cumulative distributions as plain SVG text, so the
// bench script draws it without a charting dependency and the doc shows it as an image.
import { sortedCopy } from "./stats.js";

export interface ChartSeries {
  label: string;
  /** Latencies in ms. */
  samples: readonly number[];
  /** A CSS colour; a palette colour by position when omitted. */
  color?: string;
  /** Drawn dashed: a floor rather than a net2ban path. */
  dashed?: boolean;
}

export interface CdfChartOptions {
  title: string;
  series: readonly ChartSeries[];
  width?: number;
  height?: number;
  /** Vertical line drawn at this latency (a target), labelled. */
  marker?: { atMs: number; label: string };
}

const PALETTE = ["#1b6ac9", "#d1495b", "#2a9d55", "#8e5ac8", "#e07b00", "#555555"];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 1, 2, 5, 10, 20, 50, ... covering [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi >= lo)) throw new RangeError(`logTicks: expected 0 < lo <= hi, got ${lo}, ${hi}`);
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(lo)); decade <= hi * 10; decade *= 10) {
    for (const step of [1, 2, 5]) {
      const tick = Number((decade * step).toPrecision(3));
      if (tick >= lo && tick <= hi) ticks.push(tick);
    }
  }
  return ticks;
}

function tickLabel(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * Cumulative distribution of each series on a log latency axis: the point (x, y) reads "a fraction y of
 * the bans was done within x ms". Each series is a step line through its sorted samples.
 */
export function renderCdfSvg(options: CdfChartOptions): string {
  const width = options.width ?? 760;
  const height = options.height ?? 420;
  const series = options.series.filter((s) => s.samples.length > 0);
  if (series.length === 0) throw new RangeError(`"series" expected at least one series with samples`);
  const all = series.flatMap((s) => sortedCopy(s.samples));
  const positive = all.filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...positive))));
  const hiValue = Math.max(...all, options.marker?.atMs ?? 0);
  const hi = 10 ** Math.ceil(Math.log10(Math.max(hiValue, lo * 10)));
  const left = 60;
  const right = 20;
  const top = 40;
  const bottom = 50 + 18 * series.length;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const x = (ms: number) =>
    left + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / Math.log10(hi / lo)) * plotW;
  const y = (fraction: number) => top + (1 - fraction) * plotH;
  const f = (n: number) => n.toFixed(1);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img">`,
    // The accessible name of the chart (screen readers; biome's a11y rules check the committed SVG).
    `<title>${escapeXml(options.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  for (const tick of logTicks(lo, hi)) {
    parts.push(
      `<line x1="${f(x(tick))}" y1="${top}" x2="${f(x(tick))}" y2="${top + plotH}" stroke="#e3e3e3"/>`,
      `<text x="${f(x(tick))}" y="${top + plotH + 16}" text-anchor="middle">${tickLabel(tick)}</text>`,
    );
  }
  for (const fraction of [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
    parts.push(
      `<line x1="${left}" y1="${f(y(fraction))}" x2="${left + plotW}" y2="${f(y(fraction))}" stroke="#e3e3e3"/>`,
      `<text x="${left - 6}" y="${f(y(fraction) + 4)}" text-anchor="end">${Math.round(fraction * 100)} %</text>`,
    );
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999999"/>`,
    `<text x="${left + plotW / 2}" y="${top + plotH + 34}" text-anchor="middle">latency (log scale)</text>`,
  );
  if (options.marker !== undefined) {
    const mx = f(x(options.marker.atMs));
    parts.push(
      `<line x1="${mx}" y1="${top}" x2="${mx}" y2="${top + plotH}" stroke="#000000" stroke-dasharray="2,3"/>`,
      `<text x="${mx}" y="${top - 4}" text-anchor="middle">${escapeXml(options.marker.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const sorted = sortedCopy(s.samples);
    const points: string[] = [`${f(x(sorted[0]!))},${f(y(0))}`];
    sorted.forEach((value, k) => {
      points.push(
        `${f(x(value))},${f(y(k / sorted.length))}`,
        `${f(x(value))},${f(y((k + 1) / sorted.length))}`,
      );
    });
    const dash = s.dashed ? ` stroke-dasharray="6,4"` : "";
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${simplifySteps(points).join(" ")}"/>`,
    );
    const ly = top + plotH + 52 + 18 * i;
    parts.push(
      `<line x1="${left}" y1="${ly - 4}" x2="${left + 24}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${left + 30}" y="${ly}">${escapeXml(s.label)} (n = ${sorted.length})</text>`,
    );
  });
  parts.push("</svg>", "");
  return parts.join("\n");
}

/**
 * Drops the points of a step line that draw nothing: repeats of the previous point and the middle of a
 * run along one vertical or horizontal line (thousands of samples land on a few hundred pixels).
 */
export function simplifySteps(points: readonly string[]): string[] {
  const out: string[] = [];
  const along = (a: string, b: string, axis: 0 | 1) => a.split(",")[axis] === b.split(",")[axis];
  for (const point of points) {
    if (point === out.at(-1)) continue;
    const last = out.at(-1);
    const before = out.at(-2);
    if (last !== undefined && before !== undefined) {
      const axis = along(before, last, 0) ? 0 : along(before, last, 1) ? 1 : undefined;
      if (axis !== undefined && along(last, point, axis)) out[out.length - 1] = point;
      else out.push(point);
    } else out.push(point);
  }
  return out;
}
