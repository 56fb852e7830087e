// Escaping what other hosts wrote before a terminal sees it: nothing raw gets through, text stays readable.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { describeQueue, mismatchError } from "./check-broker.js";
import { escapeControls, escapeJsonControls } from "./terminal-text.js";

const RAW = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe("escapeControls", () => {
  it("names the common ones, writes the others as hex, keeps printable text as it is", () => {
    expect(escapeControls("a\u001b[31mb\tc\r\nd\u0000\u007f\u0085\u009b\u2028\u202e é ✓ \\x")).toBe(
      "a\\x1b[31mb\\tc\\r\\nd\\x00\\x7f\\x85\\x9b\\u2028\\u202e é ✓ \\x",
    );
  });

  it("no control character survives, for any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        expect(escapeControls(text)).not.toMatch(RAW);
      }),
      { seed: 4813, numRuns: 500 },
    );
  });
});

describe("escapeJsonControls", () => {
  it("the same value for a parser, no control character for a terminal", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (value, text) => {
        const json = escapeJsonControls(JSON.stringify({ value, text }));
        expect(json).not.toMatch(RAW);
        expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify({ value, text })));
      }),
      { seed: 4814, numRuns: 300 },
    );
  });
});

describe("check-config's broker lines", () => {
  it("what RabbitMQ said is escaped", () => {
    const queue = {
      name: "n2b_web1",
      configured: "quorum",
      existing: "unknown",
      matches: false,
      detail: "PRECONDITION_FAILED\u001b]0;x\u0007",
    } as const;
    expect(describeQueue(queue)).toBe("queue n2b_web1: type not checked (PRECONDITION_FAILED\\x1b]0;x\\x07)");
    expect(mismatchError({ ...queue, existing: "quorum" })).toContain("(PRECONDITION_FAILED\\x1b]0;x\\x07)");
  });
});

describe("error lines", () => {
  it("an error that carries control characters is printed escaped", async () => {
    const { run } = await import("./main.js");
    const err: string[] = [];
    const code = await run(["list_clients", "--config", "/nonexistent/\u001b]0;owned\u0007.cfg"], {
      out: () => undefined,
      err: (line) => err.push(line),
    });
    expect(code).toBe(2);
    expect(err.length).toBeGreaterThan(0);
    for (const line of err) expect(line).not.toMatch(RAW);
    expect(err.join("\n")).toContain("/nonexistent/\\x1b]0;owned\\x07.cfg");
  });
});
