// One compromised agent cannot hurt the others through the server: its flood of reports fills its own
// replay memory only, and its flood of mismatching digests gets a bounded number of syncs.
import { parseConfig } from "@net2ban/config";
import { createTrackedBanRequest, type Message } from "@net2ban/protocol";
import { createDigestMessage, createResultMessage } from "@net2ban/protocol/fleet";
import { sleep, waitFor } from "@net2ban/test-utils";
import { describe, expect, it } from "vitest";
import { CLOCK_START, codecFor, serverConfigHead, serverHarness } from "./test-support/server-harness.js";

let clock = CLOCK_START;
const now = () => clock;
const harness = serverHarness("one-agent", () => {
  clock = CLOCK_START;
});

async function fleet(options: { minSyncIntervalMs?: number } = {}) {
  const { config } = parseConfig(
    `${serverConfigHead("oa_", harness.dir)}
[web1]
key = k1

[web2]
key = k2
`,
    "one-agent.cfg",
  );
  const { state, broker, logger, deliver } = await harness.start(config, now, options);
  const codecs = {
    server: await codecFor("server", "server-key", "to-server"),
    web1: await codecFor("web1", "k1", "from-agent"),
    web2: await codecFor("web2", "k2", "from-agent"),
  };
  return {
    state,
    broker,
    logger,
    send: (message: Message) => deliver(codecs.server.seal(message)),
    report: (client: "web1" | "web2", message: Message) =>
      broker.deliver("oa_results", codecs[client].seal(message)),
    /** Published to `queue` since the start, by command. */
    sentTo: (queue: string) => broker.published.filter((item) => item.queue === queue),
  };
}

function result(client: "web1" | "web2", requestId: string, at: () => number) {
  return createResultMessage({
    requestId,
    client,
    ok: true,
    exitCode: 0,
    durationMs: 1,
    op: "exec",
    now: at,
  });
}

describe("reports: one replay memory per agent", () => {
  it("agent web1 floods 100,000 reports dated ahead; web2's reports are still accepted", async () => {
    const s = await fleet();
    // Dated 4 s ahead (inside the skew): what a flood that would fill a shared memory looks like.
    const ahead = () => clock + 4000;
    for (let i = 0; i < 100_000; i++) {
      await s.report("web1", result("web1", `flood-${i.toString().padStart(8, "0")}`, ahead));
    }
    expect(await s.report("web2", result("web2", "genuine-0001", now))).toBe("ack");
    expect(s.logger.find("warn", "report rejected").filter((e) => e.fields["client"] === "web2")).toEqual([]);
  }, 120_000);

  it("a report dated more than a few seconds ahead is refused as from the future", async () => {
    const s = await fleet();
    expect(
      await s.report(
        "web1",
        result("web1", "ahead-00001", () => clock + 59_000),
      ),
    ).toBe("reject");
    expect(s.logger.find("warn", "report rejected").map((e) => e.fields["reason"])).toEqual([
      expect.stringMatching(/^future/),
    ]);
    expect(
      await s.report(
        "web1",
        result("web1", "ahead-00002", () => clock + 3000),
      ),
    ).toBe("ack");
  });
});

describe("syncs: at most one whole set per agent per interval", () => {
  /** A digest that differs from the ledger, as an agent that keeps claiming to hold nothing sends. */
  const differing = (reason: "start" | "sync" | "interval") =>
    createDigestMessage({ client: "web1", reason, count: 0, hash: "0".repeat(64), now });

  it("agent web1 sends 300 differing digests: one sync now, one line; web2's ban still flows", async () => {
    const s = await fleet();
    for (let i = 0; i < 20; i++) {
      const ip = `203.0.113.${i + 1}`;
      expect(await s.send(createTrackedBanRequest({ ip, action: "demo", name: "sshd", now }))).toBe("ack");
    }
    s.broker.published.splice(0);
    const reasons = ["start", "sync", "interval"] as const;
    for (let i = 0; i < 300; i++) expect(await s.report("web1", differing(reasons[i % 3]!))).toBe("ack");
    expect(s.sentTo("oa_web1")).toHaveLength(1);
    expect(s.logger.find("warn", "syncs to web1 limited to one per 10 s")).toHaveLength(1);
    const ban = createTrackedBanRequest({ ip: "198.51.100.1", action: "demo", name: "sshd", now });
    expect(await s.send(ban)).toBe("ack");
    expect(s.sentTo("oa_web2")).toHaveLength(1);
  });

  it("the digests that waited get one sync at the end of the interval, with the set as it is then", async () => {
    const s = await fleet({ minSyncIntervalMs: 20 });
    await s.send(createTrackedBanRequest({ ip: "203.0.113.1", action: "demo", name: "sshd", now }));
    s.broker.published.splice(0);
    for (let i = 0; i < 50; i++) await s.report("web1", differing("start"));
    expect(s.sentTo("oa_web1")).toHaveLength(1);
    clock += 20;
    await waitFor(() => s.sentTo("oa_web1").length >= 2, { what: "the folded sync" });
    // Once: the 49 digests that waited were folded into it.
    await sleep(50);
    expect(s.sentTo("oa_web1")).toHaveLength(2);
  });
});
