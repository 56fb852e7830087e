// MyTime.str2seconds as fail2ban 1.0.2 computes it (expected values printed by fail2ban itself).

import { describe, expect, it } from "vitest";
import { parseFail2banDuration, pyNumberText } from "./duration.js";

describe("parseFail2banDuration", () => {
  it.each([
    ["60", "60"],
    ["1m", "60"],
    ["1.5m", "90.0"],
    ["1h 30m", "5400"],
    ["2d", "172800"],
    ["1mo", "2629800.0"],
    ["1y", "31557600.0"],
    ["10 5", "15"],
    ["1h-5m", "3300"],
    ["90s", "90"],
    ["3 days", "259200"],
  ])("%s -> %s", (text, expected) => {
    const parsed = parseFail2banDuration(text);
    expect(parsed && pyNumberText(parsed)).toBe(expected);
  });

  it.each(["", "soon", "__import__('os')", "1;2", "5 parsecs", "1/0"])("refuses %j", (text) => {
    expect(parseFail2banDuration(text)).toBeUndefined();
  });
});
