// Percentiles, summaries and number formatting of the benchmark report.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatNumber, median, percentile, ratio, sortedCopy, summarize } from "./stats.js";

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it("picks the sample at the rank, never an interpolated value", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([7], 99)).toBe(7);
  });

  it("p99 of 10 samples is the maximum: a small run cannot hide its worst case", () => {
    expect(percentile([1, 1, 1, 1, 1, 1, 1, 1, 1, 90], 99)).toBe(90);
  });

  it("refuses an empty sample or a percentile out of range", () => {
    expect(() => percentile([], 50)).toThrow(/at least one sample/);
    expect(() => percentile([1], 101)).toThrow(/"p" expected a percentile/);
    expect(() => percentile([1], Number.NaN)).toThrow(/"p" expected a percentile/);
  });

  it("is a member of the samples, monotone in p, between min and max", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (samples, a, b) => {
          const sorted = sortedCopy(samples);
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(sorted).toContain(percentile(sorted, lo));
          expect(percentile(sorted, lo)).toBeLessThanOrEqual(percentile(sorted, hi));
          expect(percentile(sorted, lo)).toBeGreaterThanOrEqual(sorted[0]!);
          expect(percentile(sorted, hi)).toBeLessThanOrEqual(sorted[sorted.length - 1]!);
        },
      ),
    );
  });
});

describe("summarize", () => {
  it("reports count, extremes, percentiles and mean of unsorted samples", () => {
    const summary = summarize([5, 1, 4, 2, 3]);
    expect(summary).toEqual({ count: 5, min: 1, p50: 3, p90: 5, p95: 5, p99: 5, max: 5, mean: 3 });
  });

  it("refuses non-finite samples, naming the index", () => {
    expect(() => summarize([1, Number.POSITIVE_INFINITY])).toThrow(/"samples\[1\]" expected a finite number/);
    expect(() => summarize([])).toThrow(/at least one sample/);
  });
});

describe("median, ratio, formatNumber", () => {
  it("median of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("ratio refuses a zero or negative floor", () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(() => ratio(1, 0)).toThrow(/positive floor/);
  });

  it("formats for reading", () => {
    expect(formatNumber(12345.6)).toBe("12,346");
    expect(formatNumber(123.4)).toBe("123");
    expect(formatNumber(12.34)).toBe("12.3");
    expect(formatNumber(1.234)).toBe("1.23");
    expect(formatNumber(0.01234)).toBe("0.012");
    expect(formatNumber(0)).toBe("0");
  });
});
