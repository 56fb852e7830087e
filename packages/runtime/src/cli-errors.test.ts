// Exit codes: what restarting could fix exits 1, what it cannot (usage, config, a queue of another type) exits 2.

import { ConfigError, LocalAddressesError } from "@net2ban/config";
import { QueueMismatchError, QueueOperationError } from "@net2ban/transport";
import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_USAGE, exitCodeFor, UsageError } from "./cli-errors.js";

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
});
