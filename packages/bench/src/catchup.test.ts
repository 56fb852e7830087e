// The catch-up figures read from the agent's and the server's log lines, and the drift-repair ratios.
import type { LogLine } from "@net2ban/fleet";
import { describe, expect, it } from "vitest";
import { catchUpPhases, driftRatios } from "./catchup.js";

const T0 = 1_700_000_000_000;
const line = (time: number, msg: string, fields: Record<string, unknown> = {}): LogLine => ({
  level: 30,
  time: T0 + time,
  msg,
  ...fields,
});

function lines(bans: number) {
  const agentLines = [
    line(400, "net2ban agent agent2 started"),
    ...Array.from({ length: bans }, (_, i) =>
      line(700 + i * 10, `IP 10.0.0.${i + 1} banned`, { durationMs: 4, ip: `10.0.0.${i + 1}` }),
    ),
    line(700 + bans * 10, `sync done: ${bans} ban(s) applied, 0 lifted, ${bans} held`, { applied: bans }),
  ];
  const serverLines = [
    // An earlier catch-up of the same agent (before this start) is not this one.
    line(-5000, "catch-up for agent2: it holds 3 ban(s), the ledger has 4"),
    line(-4990, "sync to agent2: 4 active ban(s)"),
    line(450, `catch-up for agent2: it holds 0 ban(s), the ledger has ${bans}`),
    line(460, "sync to agent1: 1 active ban(s)"),
    line(520, `sync to agent2: ${bans} active ban(s)`),
  ];
  return { agentLines, serverLines };
}

describe("catchUpPhases", () => {
  it("times each step from the agent's spawn, from the lines of this start only", () => {
    const phases = catchUpPhases({ agent: "agent2", bans: 3, spawnedAt: T0, ...lines(3) });
    expect(phases).toEqual({
      startedMs: 400,
      digestAtServerMs: 450,
      syncSentMs: 520,
      // The first "banned" line came when its 4 ms action ended.
      firstActionMs: 696,
      allAppliedMs: 730,
      bansPerSecond: 3 / 0.73,
    });
  });

  it("refuses a catch-up that applied another number of bans, and names a missing line", () => {
    expect(() => catchUpPhases({ agent: "agent2", bans: 4, spawnedAt: T0, ...lines(3) })).toThrow(
      "catch-up: agent2 applied 3 ban(s) (sync done says 3), expected 4",
    );
    const { agentLines, serverLines } = lines(3);
    expect(() =>
      catchUpPhases({
        agent: "agent2",
        bans: 3,
        spawnedAt: T0,
        agentLines,
        serverLines: serverLines.filter((l) => !l.msg.startsWith("sync to agent2") || l.time < T0),
      }),
    ).toThrow('catch-up: no "sync to agent2" in the log');
    expect(() => catchUpPhases({ agent: "agent2", bans: 0, spawnedAt: T0, agentLines, serverLines })).toThrow(
      RangeError,
    );
  });
});

describe("driftRatios", () => {
  it("gives the median and the max repair in seconds and as multiples of the interval", () => {
    expect(driftRatios([400, 1200, 700], 1)).toEqual({
      medianSeconds: 0.7,
      maxSeconds: 1.2,
      medianRatio: 0.7,
      maxRatio: 1.2,
    });
    expect(driftRatios([3000], 2).maxRatio).toBe(1.5);
    expect(() => driftRatios([1], 0)).toThrow(RangeError);
  });
});
