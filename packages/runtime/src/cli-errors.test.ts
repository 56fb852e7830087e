// Exit codes (docs/cli.md): 1 failed, 2 what a restart or resend cannot fix (usage, config, a queue of another
// type), 3 nothing sent, 4 sent but not confirmed.

import { ConfigError, LocalAddressesError } from "@net2ban/config";
import {
  BrokerUnavailableError,
  PublishBatchError,
  PublishError,
  QueueMismatchError,
  QueueOperationError,
} from "@net2ban/transport";
import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_NOT_SENT, EXIT_USAGE, exitCodeFor, UsageError } from "./cli-errors.js";

describe("exitCodeFor", () => {
  it("exits 2 for what a restart cannot fix", () => {
    expect(exitCodeFor(new UsageError("bad"))).toBe(EXIT_USAGE);
    expect(exitCodeFor(new ConfigError(["x: bad"]))).toBe(EXIT_USAGE);
    const mismatch = new QueueMismatchError("net2ban_web1", { argument: "x-queue-type" });
    expect(exitCodeFor(mismatch)).toBe(EXIT_USAGE);
    expect(exitCodeFor(new LocalAddressesError("netlink forbidden"))).toBe(EXIT_USAGE);
  });

  it("exits 1 for failures that may pass", () => {
    expect(exitCodeFor(new QueueOperationError("net2ban_web1", "declare", new Error("home node down")))).toBe(
      EXIT_FAILED,
    );
    expect(exitCodeFor(new Error("boom"))).toBe(EXIT_FAILED);
  });

  it("exits 3 when nothing was sent: no broker node, or the broker refused the publish", () => {
    const unreachable = new BrokerUnavailableError([
      { url: "amqp://127.0.0.1:1/", error: new Error("ECONNREFUSED") },
    ]);
    expect(exitCodeFor(unreachable)).toBe(EXIT_NOT_SENT);
    expect(exitCodeFor(new PublishError("input_net2ban", "nacked", "nack"))).toBe(EXIT_NOT_SENT);
    expect(exitCodeFor(new PublishError("input_net2ban", "refused", "ACCESS_REFUSED"))).toBe(EXIT_NOT_SENT);
    const batch = new PublishBatchError([new PublishError("q", "returned", "NO_ROUTE")], 1);
    expect(exitCodeFor(batch)).toBe(EXIT_NOT_SENT);
  });

  it("exits 1 when a publish may have arrived (connection lost, confirm timed out)", () => {
    expect(exitCodeFor(new PublishError("input_net2ban", "connection-lost", "lost"))).toBe(EXIT_FAILED);
    expect(exitCodeFor(new PublishError("input_net2ban", "timeout", "no confirm"))).toBe(EXIT_FAILED);
  });
});
