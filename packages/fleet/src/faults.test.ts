// The fault suite's own arithmetic: seeded kill points, ban addresses, and the ban-log tally that
// decides "lost" and "duplicated".
import { describe, expect, it } from "vitest";
import { banAddress, seededRandom, tallyBanLog } from "./faults.js";

describe("seededRandom", () => {
  it("the same seed gives the same sequence, another seed another one, all in [0, 1)", () => {
    const a = seededRandom(6);
    const b = seededRandom(6);
    const c = seededRandom(7);
    const first = Array.from({ length: 100 }, () => a());
    expect(Array.from({ length: 100 }, () => b())).toEqual(first);
    expect(Array.from({ length: 100 }, () => c())).not.toEqual(first);
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(first).size).toBe(100);
  });

  it("refuses a seed that is not an integer", () => {
    expect(() => seededRandom(1.5)).toThrow(/"seed"/);
  });
});

describe("banAddress", () => {
  it("maps the counter onto distinct 10.x.y.z addresses", () => {
    expect(banAddress(0)).toBe("10.0.0.0");
    expect(banAddress(9999)).toBe("10.0.39.15");
    expect(banAddress(2 ** 24 - 1)).toBe("10.255.255.255");
    expect(new Set(Array.from({ length: 70_000 }, (_, i) => banAddress(i))).size).toBe(70_000);
    expect(() => banAddress(2 ** 24)).toThrow(RangeError);
    expect(() => banAddress(-1)).toThrow(RangeError);
  });
});

describe("tallyBanLog", () => {
  const sent = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];

  it("every address banned once: all executed, nothing lost or twice", () => {
    const tally = tallyBanLog(["ban 10.0.0.2", "ban 10.0.0.1", "ban 10.0.0.3"], sent);
    expect(tally).toEqual({
      executed: 3,
      lost: [],
      duplicated: [],
      reapplied: [],
      unexpected: [],
      banLines: 3,
      unbanLines: 0,
    });
  });

  it("a missing address is lost; one banned twice is duplicated", () => {
    const tally = tallyBanLog(["ban 10.0.0.1", "ban 10.0.0.1", "ban 10.0.0.3"], sent);
    expect(tally.executed).toBe(1);
    expect(tally.lost).toEqual(["10.0.0.2"]);
    expect(tally.duplicated).toEqual(["10.0.0.1"]);
  });

  it("an in-doubt ban re-applied counts once, whether or not it had run before the crash", () => {
    // Ran before the crash, then undone and run again; and never ran, then unban (no rule) and ban.
    const lines = [
      "ban 10.0.0.1",
      "unban 10.0.0.1",
      "ban 10.0.0.1",
      "unban 10.0.0.2",
      "ban 10.0.0.2",
      "ban 10.0.0.3",
    ];
    const tally = tallyBanLog(lines, sent);
    expect(tally.executed).toBe(3);
    expect(tally.lost).toEqual([]);
    expect(tally.duplicated).toEqual([]);
    expect(tally.reapplied.sort()).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(tally).toMatchObject({ banLines: 4, unbanLines: 2 });
  });

  it("an unban after the last ban leaves the address unbanned: lost", () => {
    expect(tallyBanLog(["ban 10.0.0.1", "unban 10.0.0.1"], ["10.0.0.1"]).lost).toEqual(["10.0.0.1"]);
  });

  it("lines for addresses never sent, or that are not bans, are unexpected", () => {
    const tally = tallyBanLog(["ban 10.9.9.9", "hello", "ban 10.0.0.1"], ["10.0.0.1"]);
    expect(tally.unexpected).toEqual(["ban 10.9.9.9", "hello"]);
    expect(tally.executed).toBe(1);
  });
});
