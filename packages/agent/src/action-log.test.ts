// The operator's lines for an action, as both the exec path and the ledger path write them.
import { memoryLogger } from "@net2ban/test-utils";
import { describe, expect, it } from "vitest";
import { actionFailure, logActionOutcome } from "./action-log.js";

const ran = { ok: true, exitCode: 0, timedOut: false, stderr: "", durationMs: 3 };

describe("logActionOutcome", () => {
  it("a ban, an unban, another action: info lines with the context and the duration", () => {
    const logger = memoryLogger();
    logActionOutcome(logger, { file: "iptables", action: "actionban", ip: "203.0.113.9", id: "r1" }, ran);
    logActionOutcome(logger, { file: "iptables", action: "actionunban", ip: "203.0.113.9" }, ran);
    logActionOutcome(logger, { file: "iptables", action: "actionstart" }, ran);
    expect(logger.entries.map((e) => [e.level, e.msg])).toEqual([
      ["info", "IP 203.0.113.9 banned"],
      ["info", "IP 203.0.113.9 unbanned"],
      ["info", "iptables/actionstart done"],
    ]);
    expect(logger.entries[0]!.fields).toEqual({
      file: "iptables",
      action: "actionban",
      ip: "203.0.113.9",
      id: "r1",
      durationMs: 3,
    });
  });

  it("a failure: an error with the exit code, and whether it timed out, for bans and unbans alike", () => {
    const logger = memoryLogger();
    const failed = { ok: false, exitCode: 2, timedOut: false, stderr: "no chain", durationMs: 1 };
    logActionOutcome(logger, { file: "nft", action: "actionban", ip: "192.0.2.1" }, failed);
    logActionOutcome(
      logger,
      { file: "nft", action: "actionunban", ip: "192.0.2.1" },
      { ...failed, exitCode: null, timedOut: true },
    );
    expect(logger.entries.map((e) => [e.level, e.msg])).toEqual([
      ["error", "nft/actionban failed with exit code 2"],
      ["error", "nft/actionunban failed with exit code none (timed out)"],
    ]);
    expect(logger.entries[0]!.fields).toMatchObject({ exitCode: 2, timedOut: false, stderr: "no chain" });
    expect(actionFailure("nft", "actionban", { exitCode: 1, timedOut: false })).toBe(
      "nft/actionban failed with exit code 1",
    );
  });
});
