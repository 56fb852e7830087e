// Exact percentiles and ratios for benchmark samples: few enough samples that sorting them all is cheap,
// so no histogram approximation is needed (an HDR histogram would give the same nearest-rank values).

/** The latency figures every end-to-end row reports, in the unit of the samples (ms here). */
export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function assertSamples(samples: readonly number[], argument: string): void {
  if (!Array.isArray(samples)) throw new TypeError(`"${argument}" expected an array of numbers`);
  for (const [i, value] of samples.entries()) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(`"${argument}[${i}]" expected a finite number, got ${String(value)}`);
    }
  }
}

/** Ascending copy; the input is left alone. */
export function sortedCopy(samples: readonly number[]): number[] {
  assertSamples(samples, "samples");
  return [...samples].sort((a, b) => a - b);
}

/**
 * Nearest-rank percentile of ascending `sorted` (`p` in 0..100): the smallest sample with at least p % of
 * the samples at or below it. It is always a measured value, as HDR histograms report.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (typeof p !== "number" || !(p >= 0 && p <= 100)) {
    throw new RangeError(`"p" expected a percentile from 0 to 100, got ${String(p)}`);
  }
  if (sorted.length === 0) throw new RangeError(`"sorted" expected at least one sample`);
  // At least rank 1: p = 0 (or one so small that the product underflows) is the minimum.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = sortedCopy(samples);
  if (sorted.length === 0) throw new RangeError(`"samples" expected at least one sample`);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    min: sorted[0]!,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  };
}

/** Median of unsorted values (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = sortedCopy(values);
  if (sorted.length === 0) throw new RangeError(`"values" expected at least one value`);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `value / floor`, refusing a floor that would make the ratio meaningless. */
export function ratio(value: number, floor: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(floor) || floor <= 0) {
    throw new RangeError(`ratio: expected finite numbers and a positive floor, got ${value} / ${floor}`);
  }
  return value / floor;
}

/** Numbers as a reader scans them: 3 significant digits below 100, thousands grouped above. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return Math.round(value).toLocaleString("en-US");
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  if (magnitude === 0) return "0";
  return value.toPrecision(2);
}
