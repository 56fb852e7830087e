// Ban state messages: ban/unban/status requests, apply/sync commands, digests, and the replies net2banctl
// gets (accepted, forwarded results, state), each in its own direction only and within its bounds.
import { describe, expect, it } from "vitest";
import {
  createDigestMessage,
  createResultMessage,
  createStatusRequest,
  createTrackedBanRequest,
  createTrackedUnbanRequest,
} from "./builders.js";
import { createCodec } from "./codec.js";
import { MAX_PLAINTEXT_BYTES } from "./envelope-v1.js";
import { readV2KeyId } from "./envelope-v2.js";
import type { MessageRejectedError } from "./errors.js";
import type { Direction } from "./keys.js";
import {
  type ApplyMessage,
  type BanMessage,
  LIMITS,
  type Message,
  messageSchema,
  type SyncMessage,
} from "./messages.js";

const keys = { key: "k", secret: "s", rounds: 1, authkey: "a" };
const now = () => 1_700_000_000_000;
const codecOf = (
  direction: Direction,
  keyId = direction === "to-server" || direction === "from-server" ? "server" : "web1",
) => createCodec({ protocol: 2, keyId, direction, keys });

const apply: ApplyMessage = {
  cmd: "apply",
  op: "ban",
  file: "iptables-multiport",
  name: "sshd",
  ip: "203.0.113.9",
  params: { port: "ssh" },
  expiresAt: 1_700_000_600,
  requestedAt: 1_700_000_000,
  timestamp: 1_700_000_000,
  id: "apply-0001",
  sender: "server",
};
const sync: SyncMessage = {
  cmd: "sync",
  syncId: "sync-0001",
  seq: 0,
  last: true,
  bans: [{ file: "nftables", name: "web", ip: "2001:db8::/64", params: {}, expiresAt: null }],
  timestamp: 1_700_000_000,
  id: "sync-0001-0",
  sender: "server",
};

describe("builders", () => {
  it("a tracked ban: ban of iptables-multiport for jail default, duration optional, null for no end", () => {
    const ban = createTrackedBanRequest({ ip: "203.0.113.9", now, sender: "ctl" });
    expect(ban).toMatchObject({
      cmd: "ban",
      file: "iptables-multiport",
      name: "default",
      ip: "203.0.113.9",
      params: {},
      timestamp: 1_700_000_000,
    });
    expect(ban).not.toHaveProperty("duration");
    expect(ban).not.toHaveProperty("replyTo");
    const timed = createTrackedBanRequest({
      ip: "198.51.100.0/24",
      action: "nftables",
      name: "web",
      params: { port: "http" },
      duration: 600,
      replyTo: "n2b_reply.abc",
      to: ["web1"],
    });
    expect(timed).toMatchObject({ file: "nftables", duration: 600, replyTo: "n2b_reply.abc", to: ["web1"] });
    expect(createTrackedBanRequest({ ip: "192.0.2.1", duration: null }).duration).toBeNull();
  });

  it("a tracked ban refuses what no agent could run", () => {
    expect(() => createTrackedBanRequest({ ip: "203.0.113.300" })).toThrow(/"ip" expected an IPv4/);
    expect(() => createTrackedBanRequest({ ip: "192.0.2.1", params: { ip: "x" } })).toThrow(
      /must not contain "ip"/,
    );
    expect(() => createTrackedBanRequest({ ip: "192.0.2.1", duration: 0 })).toThrow(/"duration"/);
    expect(() => createTrackedBanRequest({ ip: "192.0.2.1", action: "../x" })).toThrow(/^"action"/);
    expect(() => createTrackedBanRequest({ ip: "192.0.2.1", name: "a\nb" })).toThrow(
      /"name" expected a jail name/,
    );
    expect(() => createTrackedBanRequest({ ip: "192.0.2.1", replyTo: "amq.gen-1" })).toThrow(/"replyTo"/);
  });

  it("unban without action or name means every ban of the address; status and digest", () => {
    const all = createTrackedUnbanRequest({ ip: "192.0.2.1", now });
    expect(all).not.toHaveProperty("file");
    expect(all).not.toHaveProperty("name");
    expect(createTrackedUnbanRequest({ ip: "192.0.2.1", action: "nftables", name: "web" })).toMatchObject({
      file: "nftables",
      name: "web",
    });
    expect(createStatusRequest({ replyTo: "n2b_reply.x", now })).toMatchObject({
      cmd: "status",
      replyTo: "n2b_reply.x",
    });
    const digest = createDigestMessage({ client: "web1", reason: "start", count: 0, hash: "0".repeat(64) });
    expect(digest).toMatchObject({ cmd: "digest", client: "web1", reason: "start", count: 0 });
    expect(() =>
      createDigestMessage({ client: "web1", reason: "start", count: -1, hash: "0".repeat(64) }),
    ).toThrow(/"count"/);
  });

  it("a result can name the ban it is about and what the agent did", () => {
    const result = createResultMessage({
      requestId: "request-1",
      client: "web1",
      ok: true,
      exitCode: 0,
      durationMs: 3,
      op: "extend",
      file: "nftables",
      name: "web",
      ip: "192.0.2.1",
      latencySeconds: 0.02,
      detail: "x".repeat(600),
    });
    expect(result).toMatchObject({ op: "extend", file: "nftables", latencySeconds: 0.02 });
    expect(result.detail).toHaveLength(512);
  });
});

describe("each direction carries its own commands", () => {
  const samples: Record<string, Message> = {
    ban: createTrackedBanRequest({ ip: "192.0.2.1" }),
    unban: createTrackedUnbanRequest({ ip: "192.0.2.1" }),
    status: createStatusRequest({ replyTo: "n2b_reply.x" }),
    apply,
    sync,
    digest: createDigestMessage({ client: "web1", reason: "interval", count: 1, hash: "a".repeat(64) }),
    result: createResultMessage({
      requestId: "request-1",
      client: "web1",
      ok: false,
      exitCode: 1,
      durationMs: 1,
    }),
    accepted: {
      cmd: "accepted",
      requestId: "request-1",
      hosts: ["web1", "web2"],
      change: "new",
      expiresAt: null,
      timestamp: 1,
      id: "accepted-1",
      sender: "server",
    },
    state: {
      cmd: "state",
      requestId: "request-1",
      seq: 0,
      last: true,
      bans: [
        {
          file: "f",
          name: "n",
          ip: "192.0.2.1",
          expiresAt: 2,
          createdAt: 1,
          updatedAt: 1,
          hosts: { web1: { state: "failed", at: 1, exitCode: 2 }, web2: { state: "pending", at: 1 } },
        },
      ],
      timestamp: 1,
      id: "state-1-0",
      sender: "server",
    },
  };
  const carried: Record<Direction, string[]> = {
    "to-server": ["ban", "unban", "status"],
    "to-agent": ["apply", "sync"],
    "from-agent": ["digest", "result"],
    "from-server": ["accepted", "result", "state"],
  };

  it.each(Object.entries(carried))("%s: seals and opens exactly its commands", async (direction, allowed) => {
    const codec = await codecOf(direction as Direction);
    for (const [cmd, message] of Object.entries(samples)) {
      if (allowed.includes(cmd)) {
        expect(codec.open(codec.seal(message)).message).toEqual(message);
      } else {
        expect(() => codec.seal(message), `${cmd} ${direction}`).toThrow(/is not sent/);
      }
    }
  });

  it("a digest sealed by one agent's key cannot speak for another; a forwarded result can", async () => {
    const web2 = await codecOf("from-agent", "web2");
    try {
      web2.open(web2.seal(samples["digest"]!));
      expect.unreachable();
    } catch (error) {
      expect((error as MessageRejectedError).code).toBe("wrong-key-id");
    }
    const server = await codecOf("from-server");
    expect(server.open(server.seal(samples["result"]!)).message).toMatchObject({ client: "web1" });
  });

  it("v1 has no form for any of them", async () => {
    const v1 = await createCodec({ protocol: 1, keyId: "server", direction: "to-server", keys });
    expect(() => v1.seal(samples["ban"]!)).toThrow(/"ban" has no v1 form/);
  });

  it("readV2KeyId names the header's key id for that direction only", async () => {
    const wire = (await codecOf("from-agent", "web-1.example@x")).seal({
      ...samples["digest"]!,
      client: "web-1.example@x",
    } as Message);
    expect(readV2KeyId(wire, "from-agent")).toBe("web-1.example@x");
    expect(readV2KeyId(wire, "to-agent")).toBeUndefined();
    expect(readV2KeyId(wire.subarray(0, 5), "from-agent")).toBeUndefined();
    expect(readV2KeyId(Buffer.from([2, 3, 1, 0x20]), "from-agent")).toBeUndefined();
    expect(readV2KeyId(Buffer.from([1, 3, 1, 0x41]), "from-agent")).toBeUndefined();
  });
});

describe("bounds", () => {
  it("the largest ban request seals and opens", async () => {
    const worstValue = "\u0001".repeat(LIMITS.paramValue);
    const ban: BanMessage = {
      ...createTrackedBanRequest({ ip: "192.0.2.1", replyTo: "r".repeat(255) }),
      file: "f".repeat(64),
      name: "\u00ff".repeat(128),
      ip: "ffff:".repeat(12),
      params: Object.fromEntries(
        Array.from({ length: 64 }, (_, i) => [`${"k".repeat(60)}${String(i).padStart(4, "0")}`, worstValue]),
      ),
      id: "i".repeat(128),
      sender: "s".repeat(255),
      to: Array.from({ length: 1024 }, (_, i) => `${"c".repeat(124)}${String(i).padStart(4, "0")}`),
    };
    expect(messageSchema.safeParse(ban).success).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(ban))).toBeLessThan(MAX_PLAINTEXT_BYTES);
    const codec = await codecOf("to-server");
    expect(codec.open(codec.seal(ban)).message.cmd).toBe("ban");
  });

  it("a sync or state past the set bound is refused (senders split sets), one under it passes", () => {
    const held = { file: "f", name: "n", ip: "192.0.2.1", params: { k: "v".repeat(4000) }, expiresAt: null };
    const fits = Math.floor(LIMITS.setMessageBytes / 4100) - 5;
    expect(messageSchema.safeParse({ ...sync, bans: Array(fits).fill(held) }).success).toBe(true);
    const result = messageSchema.safeParse({ ...sync, bans: Array(fits + 20).fill(held) });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/split the set/);
  });

  it("apply and sync check addresses and names as characters (receivers parse them exactly)", () => {
    expect(messageSchema.safeParse({ ...apply, ip: "192.0.2.1; reboot" }).success).toBe(false);
    expect(messageSchema.safeParse({ ...apply, name: "" }).success).toBe(false);
    expect(messageSchema.safeParse({ ...apply, op: "flush" }).success).toBe(false);
    expect(messageSchema.safeParse({ ...apply, expiresAt: null }).success).toBe(true);
  });
});
