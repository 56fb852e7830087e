// The SVG latency chart: well-formed, one step line per series, labels escaped, axes covering the data.
import { describe, expect, it } from "vitest";
import { logTicks, renderCdfSvg, simplifySteps } from "./chart.js";

describe("logTicks", () => {
  it("gives 1-2-5 steps inside the range", () => {
    expect(logTicks(1, 100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(0.1, 1)).toEqual([0.1, 0.2, 0.5, 1]);
  });

  it("refuses a non-positive lower bound", () => {
    expect(() => logTicks(0, 10)).toThrow(/0 < lo <= hi/);
  });
});

describe("renderCdfSvg", () => {
  const svg = renderCdfSvg({
    title: "ban -> action done <all>",
    series: [
      { label: "broker round trip", samples: [0.8, 0.9, 1.2, 7], dashed: true },
      { label: "100 agents", samples: [12, 15, 30, 41, 44] },
      { label: "empty", samples: [] },
    ],
    marker: { atMs: 50, label: "target p99 50 ms" },
  });

  it("is one svg element with a step line per non-empty series", () => {
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    // Named for screen readers: role="img" and a <title> as the first child.
    expect(svg.split("\n").slice(0, 2)).toEqual([
      expect.stringMatching(/^<svg [^>]* role="img">$/),
      expect.stringMatching(/^<title>.+<\/title>$/),
    ]);
    // A step line has two corners per sample (distinct samples here; the start at 0 % is the first one).
    const first = svg.match(/<polyline [^>]*points="([^"]*)"/)![1]!;
    expect(first.split(" ")).toHaveLength(2 * 4);
    expect(svg).toContain('stroke-dasharray="6,4"');
  });

  it("escapes text and labels each series with its count", () => {
    expect(svg).toContain("ban -&#62; action done &#60;all&#62;");
    expect(svg).toContain("100 agents (n = 5)");
    expect(svg).not.toContain("empty (n");
  });

  it("spans the data: ticks from below the fastest to above the slowest sample", () => {
    expect(svg).toContain(">0.5 ms<");
    expect(svg).toContain(">100 ms<");
    expect(svg).toContain("target p99 50 ms");
  });

  it("ends every line at 100 %", () => {
    const points = svg.match(/<polyline [^>]*points="([^"]*)"/)![1]!.split(" ");
    const lastY = Number(points.at(-1)!.split(",")[1]);
    const topY = 40;
    expect(lastY).toBeCloseTo(topY, 5);
  });

  it("refuses a chart without samples", () => {
    expect(() => renderCdfSvg({ title: "t", series: [{ label: "a", samples: [] }] })).toThrow(
      /at least one series/,
    );
  });
});

describe("simplifySteps", () => {
  it("keeps the corners of a step line and drops repeats and points inside a straight run", () => {
    expect(simplifySteps(["0,10", "0,10", "0,8", "0,6", "2,6", "4,6", "4,4", "5,3"])).toEqual([
      "0,10",
      "0,6",
      "4,6",
      "4,4",
      "5,3",
    ]);
  });

  it("leaves a line with no repeats and no straight runs alone", () => {
    expect(simplifySteps(["0,3", "1,2", "2,0"])).toEqual(["0,3", "1,2", "2,0"]);
  });
});
