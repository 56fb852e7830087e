// The fuzz harness itself: the property fails for a handler that lets a body through, logs wrongly or
// has an effect; the mutators change what they say; the fake broker refuses what it does not record.
import { createCodec } from "@net2ban/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bitFlipped,
  CountingLogger,
  execRequest,
  expectAllRejected,
  extended,
  FUZZ_KEYS,
  FuzzStats,
  type FuzzTarget,
  freshAge,
  fuzzKeys,
  refusalByErrorName,
  reversioned,
  sealed,
  truncated,
} from "./fuzz.js";

/** A handler that logs `lines` warn lines with `reason`, returns `verdict` and does `effect` work. */
function handler(options: { verdict?: string; lines?: number; reason?: string; effect?: number } = {}) {
  const stats = new FuzzStats();
  const logger = new CountingLogger(stats, refusalByErrorName);
  let done = 0;
  const target: FuzzTarget = {
    logger,
    stats,
    handle: async () => {
      for (let i = 0; i < (options.lines ?? 1); i++)
        logger.warn({ reason: options.reason ?? "mac-mismatch: x" });
      done += options.effect ?? 0;
      return options.verdict ?? "reject";
    },
    effects: () => done,
  };
  return target;
}

/** Why the property failed: fast-check reports the counterexample and keeps the check's error as the cause. */
async function failure(run: Promise<void>): Promise<string> {
  try {
    await run;
  } catch (error) {
    return String(((error as Error).cause as Error | undefined)?.message);
  }
  return "passed";
}

const bodies = fc.uint8Array({ minLength: 1, maxLength: 8 }).map(Buffer.from);
const property = { runs: 20, seed: 1, reason: /^mac-mismatch/ };

describe("expectAllRejected", () => {
  it("passes a handler that rejects with one matching line, and counts the cases and reasons", async () => {
    const target = handler();
    await expectAllRejected(target, bodies, property);
    expect(target.stats.cases).toBe(20);
    expect(target.stats.reasons.get("mac-mismatch")).toBe(20);
  });

  it.each([
    ["an ack", { verdict: "ack" }, /"reject"/],
    ["two lines", { lines: 2 }, /one log line/],
    ["no line", { lines: 0 }, /one log line/],
    ["another reason", { reason: "replay" }, /matching/],
    ["an effect", { effect: 1 }, /no effect/],
  ])("fails a handler with %s", async (_what, options, message) => {
    expect(await failure(expectAllRejected(handler(options), bodies, property))).toMatch(message);
  });

  it("a handler that throws is counted as a crash", async () => {
    const target = handler();
    target.handle = async () => {
      throw new Error("boom");
    };
    expect(await failure(expectAllRejected(target, bodies, property))).toBe("boom");
    expect(target.stats.crashes).toBe(1);
  });
});

describe("mutators", () => {
  it("truncate, extend, flip one bit, or change the version byte of a sealed message", async () => {
    const codec = await createCodec({
      protocol: 2,
      keyId: "server",
      direction: "to-server",
      keys: fuzzKeys(FUZZ_KEYS.server),
    });
    const wires = sealed(codec, execRequest(["net2ban-demo"], freshAge));
    const [wire] = fc.sample(wires, { seed: 7, numRuns: 1 });
    const same = fc.constant(wire!);
    for (const cut of fc.sample(truncated(same), { seed: 7, numRuns: 50 })) {
      expect(cut.length).toBeLessThan(wire!.length);
      expect(wire!.subarray(0, cut.length)).toEqual(cut);
    }
    for (const longer of fc.sample(extended(same), { seed: 7, numRuns: 50 })) {
      expect(longer.length).toBeGreaterThan(wire!.length);
      expect(longer.subarray(0, wire!.length)).toEqual(wire);
    }
    for (const flipped of fc.sample(bitFlipped(same), { seed: 7, numRuns: 50 })) {
      let bits = 0;
      for (let i = 0; i < wire!.length; i++) {
        for (let x = wire![i]! ^ flipped[i]!; x !== 0; x >>= 1) bits += x & 1;
      }
      expect(bits).toBe(1);
    }
    for (const other of fc.sample(reversioned(same), { seed: 7, numRuns: 50 })) {
      expect(other[0]).not.toBe(2);
      expect(other.subarray(1)).toEqual(wire!.subarray(1));
    }
  });
});
