// Reconnect delays: growth, cap and jitter bounds.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_RECONNECT_POLICY, reconnectDelayMs, reconnectStaggerMs } from "./backoff.js";

const noJitter = { initialDelayMs: 100, maxDelayMs: 1_000, factor: 2, jitter: 0 };

describe("reconnectDelayMs", () => {
  it("doubles per failed round up to the cap", () => {
    const delays = [1, 2, 3, 4, 5, 6].map((round) => reconnectDelayMs(round, noJitter, () => 0.5));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("spreads by +-jitter and never exceeds the cap", () => {
    const policy = { initialDelayMs: 1_000, maxDelayMs: 30_000, factor: 2, jitter: 0.2 };
    expect(reconnectDelayMs(1, policy, () => 0)).toBe(800);
    expect(reconnectDelayMs(1, policy, () => 0.999_999)).toBe(1_200);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (round, r) => {
          const delay = reconnectDelayMs(round, policy, () => r);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(policy.maxDelayMs);
        },
      ),
    );
  });

  it("defaults start at half a second and stop at thirty", () => {
    expect(reconnectDelayMs(1, DEFAULT_RECONNECT_POLICY, () => 0.5)).toBe(500);
    expect(reconnectDelayMs(100, DEFAULT_RECONNECT_POLICY, () => 0.999_999)).toBeLessThanOrEqual(30_000);
  });
});

describe("reconnectStaggerMs", () => {
  it("is a random part of the initial delay", () => {
    expect(reconnectStaggerMs(noJitter, () => 0)).toBe(0);
    expect(reconnectStaggerMs(noJitter, () => 0.5)).toBe(50);
  });
});
