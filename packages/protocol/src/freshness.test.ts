// Freshness and replay rules with an injected clock.
import { describe, expect, it } from "vitest";
import type { OpenedMessage } from "./codec.js";
import { MessageRejectedError, type RejectCode } from "./errors.js";
import { FreshnessGuard, type FreshnessGuardOptions } from "./freshness.js";

const T0 = 1_700_000_000; // seconds

/** A clock the test moves; reads in milliseconds, as Date.now. */
function clock(startSeconds = T0) {
  let ms = startSeconds * 1000;
  return {
    now: () => ms,
    set: (seconds: number) => {
      ms = seconds * 1000;
    },
  };
}

let counter = 0;
function opened(timestamp: number, extra: { expires?: number; replayKey?: string } = {}): OpenedMessage {
  counter++;
  const id = extra.replayKey ?? `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`;
  return {
    message: {
      cmd: "exec",
      file: "iptables-multiport",
      action: "actionban",
      params: { ip: "192.0.2.1" },
      timestamp,
      id,
      sender: "test",
      ...(extra.expires === undefined ? {} : { expires: extra.expires }),
    },
    replayKey: id,
  };
}
/** A legacy message: no id, the MAC hex is its replay key. */
function legacy(timestamp: number, mac: string): OpenedMessage {
  return { message: { cmd: "exec", file: "x", action: "actionban", params: {}, timestamp }, replayKey: mac };
}

function code(guard: FreshnessGuard, message: OpenedMessage): RejectCode | "accepted" {
  try {
    guard.check(message);
    return "accepted";
  } catch (error) {
    expect(error).toBeInstanceOf(MessageRejectedError);
    expect((error as Error).message).toBe("message rejected");
    return (error as MessageRejectedError).code;
  }
}
const guardWith = (options: Partial<FreshnessGuardOptions> & { now: () => number }) =>
  new FreshnessGuard({ validWindowSeconds: 3600, ...options });

describe("window and skew", () => {
  it("accepts up to valid_wtime old, rejects anything older as expired", () => {
    const { now } = clock();
    const guard = guardWith({ now });
    expect(code(guard, opened(T0))).toBe("accepted");
    expect(code(guard, opened(T0 - 3600))).toBe("accepted");
    expect(code(guard, opened(T0 - 3600.001))).toBe("expired");
  });

  it("accepts up to maxFutureSkewSeconds ahead, rejects beyond as future", () => {
    const { now } = clock();
    const guard = guardWith({ now, maxFutureSkewSeconds: 30 });
    expect(code(guard, opened(T0 + 30))).toBe("accepted");
    expect(code(guard, opened(T0 + 30.5))).toBe("future");
  });

  it("the default skew is 60 s", () => {
    const { now } = clock();
    const guard = guardWith({ now });
    expect(code(guard, opened(T0 + 60))).toBe("accepted");
    expect(code(guard, opened(T0 + 61))).toBe("future");
  });

  it("a message past its expires is rejected even inside the window", () => {
    const { now } = clock();
    const guard = guardWith({ now });
    expect(code(guard, opened(T0 - 10, { expires: T0 }))).toBe("expires-passed");
    expect(code(guard, opened(T0 - 10, { expires: T0 - 1 }))).toBe("expires-passed");
    expect(code(guard, opened(T0 - 10, { expires: T0 + 0.5 }))).toBe("accepted");
  });

  it("the clock is read on every check", () => {
    const c = clock();
    const guard = guardWith({ now: c.now });
    const message = opened(T0);
    c.set(T0 + 3601);
    expect(code(guard, message)).toBe("expired");
  });
});

describe("replay", () => {
  it("the same id twice: the second is a replay", () => {
    const { now } = clock();
    const guard = guardWith({ now });
    const message = opened(T0);
    expect(code(guard, message)).toBe("accepted");
    expect(code(guard, message)).toBe("replay");
    expect(code(guard, opened(T0, { replayKey: message.replayKey }))).toBe("replay");
  });

  it("legacy messages are told apart by their MAC", () => {
    const { now } = clock();
    const guard = guardWith({ now });
    expect(code(guard, legacy(T0, "aa".repeat(32)))).toBe("accepted");
    expect(code(guard, legacy(T0, "bb".repeat(32)))).toBe("accepted");
    expect(code(guard, legacy(T0, "aa".repeat(32)))).toBe("replay");
  });

  it("a rejected message is not remembered", () => {
    const { now } = clock();
    const guard = guardWith({ now });
    const early = opened(T0 + 120);
    expect(code(guard, early)).toBe("future");
    expect(guard.size).toBe(0);
  });

  it("forget() lets a redelivery through once", () => {
    const { now } = clock();
    const guard = guardWith({ now });
    const message = opened(T0);
    guard.check(message);
    guard.forget(message);
    expect(code(guard, message)).toBe("accepted");
    expect(code(guard, message)).toBe("replay");
  });

  it("ids are dropped once their timestamp leaves the window, and a replay then is expired", () => {
    const c = clock();
    const guard = guardWith({ now: c.now });
    const message = opened(T0);
    guard.check(message);
    c.set(T0 + 1800);
    guard.check(opened(T0 + 1800));
    expect(guard.size).toBe(2);
    c.set(T0 + 3601);
    expect(code(guard, message)).toBe("expired");
    expect(guard.size).toBe(1);
  });

  it("a clock stepping back cannot revive a forgotten id", () => {
    const c = clock();
    const guard = guardWith({ now: c.now });
    const message = opened(T0);
    guard.check(message);
    c.set(T0 + 4000);
    guard.check(opened(T0 + 4000));
    expect(guard.size).toBe(1);
    c.set(T0 + 10); // NTP steps the clock back
    expect(code(guard, message)).toBe("expired");
  });
});

describe("bounded memory", () => {
  it("when full, the oldest id is forgotten and nothing at or below it is accepted again", () => {
    const c = clock();
    const guard = guardWith({ now: c.now, maxEntries: 3 });
    const first = opened(T0 - 30);
    guard.check(first);
    guard.check(opened(T0 - 20));
    guard.check(opened(T0 - 10));
    expect(guard.size).toBe(3);
    guard.check(opened(T0));
    expect(guard.size).toBe(3);
    expect(code(guard, first)).toBe("expired");
    expect(code(guard, opened(T0 - 30))).toBe("expired");
    expect(code(guard, opened(T0 - 25))).toBe("expired");
  });

  it("when full, a newcomer older than everything remembered is refused rather than evicting", () => {
    const c = clock();
    const guard = guardWith({ now: c.now, maxEntries: 2 });
    guard.check(opened(T0 - 10));
    guard.check(opened(T0));
    expect(code(guard, opened(T0 - 20))).toBe("expired");
    expect(guard.size).toBe(2);
  });

  it("out-of-order arrivals: eviction follows timestamps, not arrival order", () => {
    const c = clock();
    const guard = guardWith({ now: c.now, maxEntries: 3 });
    const newest = opened(T0);
    const oldest = opened(T0 - 50);
    guard.check(newest);
    guard.check(oldest);
    guard.check(opened(T0 - 5));
    guard.check(opened(T0 + 1));
    expect(code(guard, oldest)).toBe("expired");
    expect(code(guard, newest)).toBe("replay");
  });

  it("a flood never holds more than maxEntries ids, and every replay in it is caught", () => {
    const c = clock();
    const guard = guardWith({ now: c.now, maxEntries: 100 });
    const seen: OpenedMessage[] = [];
    for (let i = 0; i < 1000; i++) {
      c.set(T0 + i);
      const message = opened(T0 + i - (i % 7));
      if (code(guard, message) === "accepted") seen.push(message);
      expect(guard.size).toBeLessThanOrEqual(100);
    }
    for (const message of seen) expect(["replay", "expired"]).toContain(code(guard, message));
  });

  it("forget() followed by redeliveries does not grow memory without bound", () => {
    const { now } = clock();
    const guard = guardWith({ now, maxEntries: 10 });
    const message = opened(T0);
    for (let i = 0; i < 1000; i++) {
      guard.check(message);
      guard.forget(message);
    }
    expect(guard.size).toBe(0);
    guard.check(message);
    expect(code(guard, message)).toBe("replay");
  });
});

describe("arguments", () => {
  it.each([
    [{ validWindowSeconds: 0 }, RangeError, /"validWindowSeconds" expected a number/],
    [{ validWindowSeconds: "3600" }, TypeError, /"validWindowSeconds" expected a number, got string/],
    [{ validWindowSeconds: 60, maxFutureSkewSeconds: -1 }, RangeError, /"maxFutureSkewSeconds"/],
    [{ validWindowSeconds: 60, maxEntries: 0 }, RangeError, /"maxEntries" expected an integer from 1/],
    [{ validWindowSeconds: 60, now: 5 }, TypeError, /"now" expected a function, got number/],
  ])("%o", (options, type, message) => {
    expect(() => new FreshnessGuard(options as unknown as FreshnessGuardOptions)).toThrow(type);
    expect(() => new FreshnessGuard(options as unknown as FreshnessGuardOptions)).toThrow(message);
  });
});
