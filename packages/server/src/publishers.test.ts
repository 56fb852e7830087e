// Publishers ([publisher:NAME]): each sender's own key, picked by the request's key id; its rights judged at
// the server (one log line naming publisher and right, the reason to a --wait caller); its name in the
// ledger, the logs and status; accept_server_key; a section removed on SIGHUP revokes the key at once.
import { parseConfig } from "@net2ban/config";
import {
  type Codec,
  createExecBanRequest,
  createExecRequest,
  createStatusRequest,
  createTrackedBanRequest,
  createTrackedUnbanRequest,
  createUpdateRequest,
  type Message,
} from "@net2ban/protocol";
import type { AcceptedMessage, StateMessage } from "@net2ban/protocol/fleet";
import type { MemoryBroker } from "@net2ban/test-utils";
import { describe, expect, it } from "vitest";
import { CLOCK_START, codecFor, serverConfigHead, serverHarness } from "./test-support/server-harness.js";

let clock = CLOCK_START;
const now = () => clock;
const harness = serverHarness("server-publishers", () => {
  clock = CLOCK_START;
});

const DETECT = `[publisher:detect1]
key = detect1-key
`;
const LIMITED = `[publisher:ops]
key = ops-key
commands = ban, unban, exec, status
actions = iptables-multiport, demo
operations = actionban, actionunban, actioncheck
to = web1
max_bantime = 1h
rate = 2
`;

function configText(extra: string, server = ""): string {
  return `${serverConfigHead("pb_", harness.dir, { global: "bantime = 10m", server })}
[web1]
key = k1

[web2]
key = k2

${extra}`;
}

async function serverWith(text: string) {
  const { config } = parseConfig(text, "publishers.cfg");
  const { server, state, logger, broker, deliver, stop } = await harness.start(config, now);
  const codecs = async (keyId: string, key: string) => ({
    to: await codecFor(keyId, key, "to-server"),
    from: await codecFor(keyId, key, "from-server"),
  });
  return {
    server,
    state,
    logger,
    broker,
    codecs,
    stop,
    send: (codec: Codec, message: Message) => deliver(codec.seal(message)),
    reload: (next: string) => server.reload(parseConfig(next, "publishers.cfg").config),
  };
}

/** What the server sent to reply queue `replyTo`, opened with `codec` (the caller's from-server key). */
function repliesTo(broker: MemoryBroker, replyTo: string, codec: Codec): Message[] {
  return broker
    .take()
    .filter((item) => item.queue === replyTo)
    .map((item) => codec.open(item.body).message as Message);
}

describe("publishers: key by key id", () => {
  it("a fail2ban detection host's exec actionban with bantime is taken under its own key and named", async () => {
    const s = await serverWith(configText(DETECT));
    const detect = await s.codecs("detect1", "detect1-key");
    const ban = createExecBanRequest({ ip: "203.0.113.9", name: "sshd", now });
    ban.params["bantime"] = "600";
    expect(await s.send(detect.to, ban)).toBe("ack");
    const [entry] = s.state.ledger.active();
    expect(entry).toMatchObject({ ip: "203.0.113.9", publisher: "detect1" });
    const forwarded = s.logger.find("info", "Forwarding: exec/iptables-multiport");
    expect(forwarded.map((e) => e.fields["publisher"])).toEqual(["detect1"]);
  });

  it("status rows name the publisher", async () => {
    const s = await serverWith(configText(`${DETECT}commands = ban, unban, status\n`));
    const detect = await s.codecs("detect1", "detect1-key");
    await s.send(detect.to, createTrackedBanRequest({ ip: "203.0.113.9", now }));
    s.broker.take();
    await s.send(detect.to, createStatusRequest({ replyTo: "pb_reply.x", now }));
    const [state] = repliesTo(s.broker, "pb_reply.x", detect.from) as StateMessage[];
    expect(state?.bans.map((b) => [b.ip, b.publisher])).toEqual([["203.0.113.9", "detect1"]]);
  });

  it("a key id no publisher has is rejected, and so is a known name sealed with another key", async () => {
    const s = await serverWith(configText(DETECT));
    const stranger = await s.codecs("intruder", "detect1-key");
    const forged = await s.codecs("detect1", "server-key");
    expect(await s.send(stranger.to, createTrackedBanRequest({ ip: "203.0.113.9", now }))).toBe("reject");
    expect(await s.send(forged.to, createTrackedBanRequest({ ip: "203.0.113.9", now }))).toBe("reject");
    expect(s.state.ledger.active()).toEqual([]);
    expect(s.logger.find("warn", "message rejected").map((e) => e.fields["reason"])).toEqual([
      "wrong-key-id",
      "mac-mismatch",
    ]);
  });

  it("accept_server_key = no: the [server] key's requests are rejected, publishers' taken", async () => {
    const s = await serverWith(configText(DETECT, "accept_server_key = no\n"));
    const server = await s.codecs("server", "server-key");
    const detect = await s.codecs("detect1", "detect1-key");
    expect(await s.send(server.to, createTrackedBanRequest({ ip: "203.0.113.9", now }))).toBe("reject");
    expect(s.logger.find("warn", "accept_server_key = no")).toHaveLength(1);
    expect(await s.send(detect.to, createTrackedBanRequest({ ip: "203.0.113.9", now }))).toBe("ack");
  });

  it("the [server] key keeps working by default (the operator's net2banctl, old senders)", async () => {
    const s = await serverWith(configText(DETECT));
    const server = await s.codecs("server", "server-key");
    expect(await s.send(server.to, createTrackedBanRequest({ ip: "203.0.113.9", now }))).toBe("ack");
    expect(s.state.ledger.active()[0]?.publisher).toBe("server");
  });

  it("SIGHUP without its section revokes a publisher at once", async () => {
    const s = await serverWith(configText(DETECT));
    const detect = await s.codecs("detect1", "detect1-key");
    expect(await s.send(detect.to, createTrackedBanRequest({ ip: "203.0.113.9", now }))).toBe("ack");
    await s.reload(configText(""));
    expect(s.logger.find("warn", "publisher detect1 revoked")).toHaveLength(1);
    expect(await s.send(detect.to, createTrackedBanRequest({ ip: "203.0.113.10", now }))).toBe("reject");
    expect(s.state.ledger.active().map((b) => b.ip)).toEqual(["203.0.113.9"]);
  });
});

describe("publishers: rights, each refused at the server", () => {
  /** Sends `message` with a reply queue; returns the verdict, the refusal line and what --wait was told. */
  async function refused(
    extra: string,
    name: string,
    key: string,
    build: (replyTo: string) => Message,
    before?: (s: Awaited<ReturnType<typeof serverWith>>, codec: Codec) => Promise<void>,
  ) {
    const s = await serverWith(configText(extra));
    const codecs = await s.codecs(name, key);
    await before?.(s, codecs.to);
    s.broker.take();
    const lines = s.logger.find("warn").length;
    const verdict = await s.send(codecs.to, build("pb_reply.w"));
    const warnings = s.logger.find("warn").slice(lines);
    const [accepted] = repliesTo(s.broker, "pb_reply.w", codecs.from) as AcceptedMessage[];
    return { verdict, warnings, accepted, s };
  }

  const cases: Array<{
    right: string;
    extra: string;
    name: string;
    key: string;
    build: (replyTo: string) => Message;
    before?: (s: Awaited<ReturnType<typeof serverWith>>, codec: Codec) => Promise<void>;
    says: string;
  }> = [
    {
      right: "commands",
      extra: DETECT,
      name: "detect1",
      key: "detect1-key",
      build: () =>
        createUpdateRequest({ file: "iptables-multiport", content: "W0RlZmluaXRpb25d", client: "web1", now }),
      says: "publisher detect1 may not send update ([publisher:detect1] commands = ban, unban)",
    },
    {
      right: "commands",
      extra: DETECT,
      name: "detect1",
      key: "detect1-key",
      build: (replyTo) =>
        createExecRequest({ file: "iptables-multiport", action: "actionstart", params: {}, replyTo, now }),
      says: "publisher detect1 may not send exec",
    },
    {
      right: "actions",
      extra: DETECT,
      name: "detect1",
      key: "detect1-key",
      build: (replyTo) => createTrackedBanRequest({ ip: "203.0.113.9", action: "nftables", replyTo, now }),
      says: "publisher detect1 may not use action file nftables ([publisher:detect1] actions = iptables-multiport)",
    },
    {
      right: "operations",
      extra: LIMITED,
      name: "ops",
      key: "ops-key",
      build: (replyTo) =>
        createExecRequest({ file: "demo", action: "actionflush", params: {}, replyTo, now }),
      says: "publisher ops may not run actionflush",
    },
    {
      right: "to",
      extra: LIMITED,
      name: "ops",
      key: "ops-key",
      build: (replyTo) => createTrackedBanRequest({ ip: "203.0.113.9", to: ["web2"], replyTo, now }),
      says: "publisher ops may not reach web2 ([publisher:ops] to = web1)",
    },
    {
      right: "max_bantime",
      extra: LIMITED,
      name: "ops",
      key: "ops-key",
      build: (replyTo) => createTrackedBanRequest({ ip: "203.0.113.9", duration: 7200, replyTo, now }),
      says: "publisher ops may not ban for 7200s ([publisher:ops] max_bantime = 3600s)",
    },
    {
      right: "rate",
      extra: LIMITED,
      name: "ops",
      key: "ops-key",
      before: async (s, codec) => {
        for (const ip of ["203.0.113.1", "203.0.113.2"]) {
          expect(await s.send(codec, createTrackedBanRequest({ ip, now }))).toBe("ack");
        }
      },
      build: (replyTo) => createTrackedBanRequest({ ip: "203.0.113.3", replyTo, now }),
      says: "publisher ops asked for more than 2 bans per minute",
    },
  ];

  it.each(cases)("$right: $says", async ({ right, extra, name, key, build, before, says }) => {
    const { verdict, warnings, accepted, s } = await refused(extra, name, key, build, before);
    expect(verdict).toBe("reject");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain(says);
    expect(warnings[0]?.fields).toMatchObject({ publisher: name, right });
    if ("replyTo" in build("x")) expect(accepted?.refused).toContain(says);
    expect(s.state.ledger.active().filter((b) => b.ip === "203.0.113.9" || b.ip === "203.0.113.3")).toEqual(
      [],
    );
  });

  it("within its rights: a limited publisher's ban without `to` reaches only its clients", async () => {
    const s = await serverWith(configText(LIMITED));
    const ops = await s.codecs("ops", "ops-key");
    expect(await s.send(ops.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 600, now }))).toBe(
      "ack",
    );
    expect(s.broker.take().map((item) => item.queue)).toEqual(["pb_web1"]);
    expect(s.state.ledger.active()[0]).toMatchObject({ publisher: "ops", to: ["web1"] });
    expect(await s.send(ops.to, createTrackedUnbanRequest({ ip: "203.0.113.9", now }))).toBe("ack");
  });

  it("the rate refills over the minute", async () => {
    const s = await serverWith(configText(LIMITED));
    const ops = await s.codecs("ops", "ops-key");
    for (const ip of ["203.0.113.1", "203.0.113.2"])
      await s.send(ops.to, createTrackedBanRequest({ ip, now }));
    expect(await s.send(ops.to, createTrackedBanRequest({ ip: "203.0.113.3", now }))).toBe("reject");
    clock += 30_000;
    expect(await s.send(ops.to, createTrackedBanRequest({ ip: "203.0.113.3", now }))).toBe("ack");
  });
});

describe("ban ownership: each publisher holds its own ban", () => {
  const TWO = `${DETECT}\n[publisher:detect2]\nkey = detect2-key\n`;

  it("two publishers hold one ban: the first unban releases its hold only, the second lifts it", async () => {
    const s = await serverWith(configText(TWO));
    const d1 = await s.codecs("detect1", "detect1-key");
    const d2 = await s.codecs("detect2", "detect2-key");
    await s.send(d1.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 600, now }));
    await s.send(d2.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 300, now }));
    const [ban] = s.state.ledger.active();
    expect(Object.fromEntries(ban!.holders)).toEqual({
      detect1: clock / 1000 + 600,
      detect2: clock / 1000 + 300,
    });
    s.broker.take();
    // detect1's fail2ban unbans (its expiry, or a restart of fail2ban): detect2 still holds the address.
    expect(await s.send(d1.to, createTrackedUnbanRequest({ ip: "203.0.113.9", now }))).toBe("ack");
    expect(s.broker.take()).toEqual([]);
    expect(s.state.ledger.active().map((b) => [b.ip, [...b.holders.keys()], b.expiresAt])).toEqual([
      ["203.0.113.9", ["detect2"], clock / 1000 + 300],
    ]);
    expect(s.logger.find("info", "still held by detect2")).toHaveLength(1);
    expect(await s.send(d2.to, createTrackedUnbanRequest({ ip: "203.0.113.9", now }))).toBe("ack");
    expect(s.state.ledger.active()).toEqual([]);
    expect(
      s.broker
        .take()
        .map((item) => item.queue)
        .sort(),
    ).toEqual(["pb_web1", "pb_web2"]);
  });

  it("the operator's unban ([server] key) lifts every hold; holds survive a restart of the ledger", async () => {
    const s = await serverWith(configText(TWO));
    const d1 = await s.codecs("detect1", "detect1-key");
    const d2 = await s.codecs("detect2", "detect2-key");
    const server = await s.codecs("server", "server-key");
    await s.send(d1.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 600, now }));
    await s.send(d2.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 300, now }));
    await s.stop();
    const again = await serverWith(configText(TWO));
    expect([...again.state.ledger.active()[0]!.holders.keys()]).toEqual(["detect1", "detect2"]);
    await again.send(server.to, createTrackedUnbanRequest({ ip: "203.0.113.9", now }));
    expect(again.state.ledger.active()).toEqual([]);
  });

  it("the operator's unban --publisher releases that hold only; a publisher cannot release another's", async () => {
    const s = await serverWith(configText(TWO));
    const d1 = await s.codecs("detect1", "detect1-key");
    const d2 = await s.codecs("detect2", "detect2-key");
    const server = await s.codecs("server", "server-key");
    await s.send(d1.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 600, now }));
    await s.send(d2.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 300, now }));
    s.broker.take();
    const holders = () => s.state.ledger.active().map((b) => [...b.holders.keys()]);
    // detect2 naming detect1's hold releases its own, never detect1's.
    await s.send(d2.to, createTrackedUnbanRequest({ ip: "203.0.113.9", holder: "detect1", now }));
    expect(holders()).toEqual([["detect1"]]);
    expect(s.broker.take()).toEqual([]);
    await s.send(d2.to, createTrackedBanRequest({ ip: "203.0.113.9", duration: 300, now }));
    s.broker.take();
    // The operator lifts detect1's hold: detect2 still holds the address, nothing goes to the hosts.
    expect(
      await s.send(server.to, createTrackedUnbanRequest({ ip: "203.0.113.9", holder: "detect1", now })),
    ).toBe("ack");
    expect(holders()).toEqual([["detect2"]]);
    expect(s.broker.take()).toEqual([]);
    expect(s.logger.find("info", "detect1's hold released; still held by detect2")).toHaveLength(1);
    // The last holder's hold lifts the ban on the hosts.
    await s.send(server.to, createTrackedUnbanRequest({ ip: "203.0.113.9", holder: "detect2", now }));
    expect(s.state.ledger.active()).toEqual([]);
    expect(s.broker.take().length).toBeGreaterThan(0);
  });
});
