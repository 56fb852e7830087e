// Hostile commands for the agent's handler, in-process, with the real action engine whose only runner
// is a counter: malformed, truncated, oversized, bit-flipped, wrong-key, wrong-recipient, replayed,
// expired, future-dated and wrong-version envelopes, valid envelopes around invalid JSON, and
// well-formed commands the agent must refuse. Each is rejected with one log line; nothing runs, nothing
// is written to actions_dir.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionEngine } from "@net2ban/actions";
import { Allowlist, LOOPBACK, parseConfig } from "@net2ban/config";
import {
  type Codec,
  createCodec,
  createExecRequest,
  createUpdateRequest,
  type Net2banMessage,
} from "@net2ban/protocol";
import { sealPlaintext } from "@net2ban/protocol/testing";
import type { Logger } from "@net2ban/runtime";
import type { Broker, Delivery, Verdict } from "@net2ban/transport";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { Net2banAgent } from "./agent.js";

// Tens of thousands of cases per test: a busy 2-core machine can take longer than the default 30 s.
vi.setConfig({ testTimeout: 300_000 });

const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const WINDOW = 3600;
const SEED = 20260616;

const KEYS = {
  secret: "fuzz-secret-57bae6f17927fee0309cd0fc",
  authkey: "fuzz-authkey-fe64809ba0286c72123d15ff",
  agent1: "fuzz-agent1-key-ca82cd669623f6434e02",
  agent2: "fuzz-agent2-key-767c138a4483e692f41a",
  server: "fuzz-server-key-1e3648858a30a105374c",
};

const CONFIG = `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = ${KEYS.secret}
mode = client
valid_wtime = ${WINDOW}
authkey = ${KEYS.authkey}

[agent1]
key = ${KEYS.agent1}
protocol = 2

[agent2]
key = ${KEYS.agent2}
protocol = 1
`;

/** Rejections by reason code over both agents: where each kind of input was stopped. */
const reasonCounts = new Map<string, number>();

/** Counts lines instead of keeping them: 100,000 rejections must not grow the heap. */
class CountingLogger {
  lines = 0;
  warnOrError = 0;
  /** The last line's `reason` (envelope rejections) or the refusing error's name (the agent's own refusals). */
  last = "";
  info(_o: object, msg?: string): void {
    this.lines++;
    this.last = msg ?? "";
  }
  debug(): void {}
  warn(o: object, msg?: string): void {
    this.lines++;
    this.warnOrError++;
    const { reason, err } = o as { reason?: unknown; err?: unknown };
    const code =
      typeof reason === "string"
        ? (reason.split(":")[0] ?? reason)
        : err instanceof Error
          ? err.name
          : (msg ?? "");
    this.last = typeof reason === "string" ? reason : code;
    reasonCounts.set(code, (reasonCounts.get(code) ?? 0) + 1);
  }
  error(o: object, msg?: string): void {
    this.warn(o, msg);
  }
  child(): CountingLogger {
    return this;
  }
}

const material = (key: string, over: { secret?: string; authkey?: string; rounds?: number } = {}) => ({
  key,
  secret: over.secret ?? KEYS.secret,
  authkey: over.authkey ?? KEYS.authkey,
  rounds: over.rounds ?? 1000,
});

let actionsDir = "";
let runs = 0;
const tally = { cases: 0, crashes: 0, executions: 0 };
const rss = { before: 0, after: 0 };

beforeAll(async () => {
  rss.before = process.memoryUsage().rss;
  actionsDir = await mkdtemp(join(tmpdir(), "net2ban-agent-fuzz-"));
  await writeFile(
    join(actionsDir, "net2ban-demo.conf"),
    "[Definition]\nactionban = echo ban <ip>\nactionunban = echo unban <ip>\n",
  );
});

afterAll(async () => {
  rss.after = process.memoryUsage().rss;
  console.log(
    `agent fuzz: ${tally.cases} cases, ${tally.crashes} crashes, ${tally.executions} executions, ` +
      `RSS ${(rss.before / 2 ** 20).toFixed(0)} MiB before, ${(rss.after / 2 ** 20).toFixed(0)} MiB after`,
  );
  console.log(`agent fuzz rejections by reason: ${JSON.stringify(Object.fromEntries(reasonCounts))}`);
  await rm(actionsDir, { recursive: true, force: true });
});

interface Target {
  agent: Net2banAgent;
  logger: CountingLogger;
  protocol: 1 | 2;
}

async function makeTarget(name: "agent1" | "agent2"): Promise<Target> {
  const { config } = parseConfig(CONFIG, "fuzz.cfg");
  const peer = config.clients.find((c) => c.name === name)!;
  const logger = new CountingLogger();
  const engine = new ActionEngine({
    actionsDir,
    logger,
    now: () => NOW_MS / 1000,
    // The only way anything runs: counted, never executed.
    run: async () => {
      runs++;
      return {
        exitCode: 0,
        signal: null,
        stdout: "",
        stderr: "",
        durationMs: 0,
        timedOut: false,
        aborted: false,
        stdoutTruncated: false,
        stderrTruncated: false,
      };
    },
  });
  const agent = await Net2banAgent.create({
    peer,
    // handleCommand never touches the broker (only start/stop do).
    broker: {} as Broker,
    logger: logger as unknown as Logger,
    engine,
    actionsDir,
    prefetch: 1,
    now: () => NOW_MS,
    allowlist: Allowlist.of("[global]", ["10.0.0.0/8"])
      .concat(Allowlist.of("default: loopback", LOOPBACK))
      .concat(Allowlist.of("default: this host", ["192.0.2.2", "2001:db8::2"])),
  });
  return { agent, logger, protocol: peer.protocol };
}

let delivered = 0;
function delivery(body: Buffer, redelivered = false): Delivery {
  delivered++;
  return { body, redelivered, deliveryTag: delivered, headers: {} };
}

// ---- message arbitraries ----------------------------------------------------------------------

/** Addresses nobody protects: 198.18.0.0/15 (benchmarking), so a valid ban really runs. */
const freeIp = fc.nat(0x1ffff).map((n) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`);
const iv = fc.uint8Array({ minLength: 16, maxLength: 16 });
const id = fc.uuid({ version: 4 });

/** Schema-valid bans and unbans through the action that exists, `age` seconds old. */
function execRequest(age: fc.Arbitrary<number>): fc.Arbitrary<Net2banMessage> {
  return fc
    .record({
      action: fc.constantFrom("actionban", "actionunban"),
      ip: freeIp,
      name: fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/),
      age,
      id,
    })
    .map((r) =>
      createExecRequest({
        file: "net2ban-demo",
        action: r.action,
        params: { ip: r.ip, name: r.name },
        sender: "fuzz",
        id: r.id,
        now: () => NOW_MS - r.age * 1000,
      }),
    );
}

const fresh = execRequest(fc.integer({ min: 0, max: WINDOW - 60 }));
const sealed = (codec: Codec, message: fc.Arbitrary<Net2banMessage>) =>
  fc.tuple(message, iv).map(([m, v]) => codec.seal(m, { iv: v }));

const notAString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string(), { maxKeys: 3 }),
);
const notATimestamp = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -1e9, max: -1 }),
  fc.constant([]),
);
const badFileName = fc.constantFrom(
  "../evil",
  "/etc/passwd",
  ".hidden",
  "a/b",
  "..",
  "",
  "-rf",
  "x\u0000y",
  "a".repeat(65),
  "net2ban demo",
  "ｎｅｔ２ｂａｎ",
);

/**
 * A valid command with one change that no schema accepts. v1 strips unknown keys, so for it only the
 * legacy fields are broken (a bad `id` or `to` is simply dropped there).
 */
function brokenShape(base: fc.Arbitrary<Net2banMessage>, protocol: 1 | 2): fc.Arbitrary<unknown> {
  const required =
    protocol === 2
      ? ["cmd", "file", "action", "params", "timestamp", "id", "sender"]
      : ["cmd", "file", "action", "params", "timestamp"];
  const strings = protocol === 2 ? ["file", "action", "id", "sender"] : ["file", "action"];
  return fc
    .tuple(base, fc.nat(protocol === 2 ? 7 : 5), notAString, notATimestamp, badFileName, fc.nat())
    .map(([message, which, wrong, wrongTime, file, n]) => {
      const m: Record<string, unknown> = { ...message };
      switch (which) {
        case 0:
          delete m[required[n % required.length]!];
          return m;
        case 1:
          m[strings[n % strings.length]!] = wrong;
          return m;
        case 2:
          m["timestamp"] = wrongTime;
          return m;
        case 3:
          m["file"] = file;
          return m;
        case 4:
          m["cmd"] = ["result", "ban", "EXEC", "", "exec ", "update\u0000"][n % 6];
          return m;
        case 5:
          m["params"] = [
            [],
            "ip=1.2.3.4",
            null,
            { ip: 1 },
            { ip: "1.2.3.4", nested: { a: "b" } },
            { "bad name": "x" },
            { ip: "x".repeat(4097) },
            Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, "v"])),
          ][n % 8];
          return m;
        case 6:
          m["id"] = ["short", "", "-leading", "x".repeat(129), "sp ace-0000"][n % 5];
          return m;
        default:
          m["to"] = [[], "agent1", [1], ["../x"]][n % 4];
          return m;
      }
    });
}

/** Well-formed commands this agent must refuse: they pass every envelope and schema check. */
function refusedCommand(self: string): fc.Arbitrary<Net2banMessage> {
  const at = { sender: "fuzz", now: () => NOW_MS };
  const exec = (file: string, action: string, params: Record<string, string>, i: string) =>
    createExecRequest({ file, action, params, id: i, ...at });
  const update = (file: string, content: string, client: string, i: string) =>
    createUpdateRequest({ file, content, client, id: i, ...at });
  const bigContent = Buffer.alloc(300 * 1024, 0x41).toString("base64");
  return fc.oneof(
    // self-lockout guard: allowlisted, loopback, own addresses, CIDRs that contain them
    fc
      .tuple(
        fc.constantFrom(
          "10.1.2.3",
          "127.0.0.1",
          "::1",
          "192.0.2.2",
          "2001:db8::2",
          "0.0.0.0/0",
          "::ffff:10.0.0.9",
          "192.0.2.0/24",
        ),
        fc.constantFrom("actionban", "actionprolong", "actionreban"),
        id,
      )
      .map(([ip, action, i]) => exec("net2ban-demo", action, { ip }, i)),
    // ip that is not an address, for any operation
    fc
      .tuple(
        fc.constantFrom(
          "1.2.3.4; touch /tmp/x",
          "$(reboot)",
          "`id`",
          "host.example",
          "1.2.3.4/33",
          "",
          "[::1]",
        ),
        fc.constantFrom("actionban", "actionunban"),
        id,
      )
      .map(([ip, action, i]) => exec("net2ban-demo", action, { ip }, i)),
    // actions that do not exist, names the engine refuses, operations that are not fail2ban's
    fc
      .tuple(fc.constantFrom("iptables-multiport", "a.b", "net2ban-demo.conf", "nope"), id)
      .map(([file, i]) => exec(file, "actionban", { ip: "198.18.0.1" }, i)),
    fc
      .tuple(fc.constantFrom("actionfoo", "action", "ban", "actionbanx", "constructor", "tostring"), id)
      .map(([action, i]) => exec("net2ban-demo", action, { ip: "198.18.0.1" }, i)),
    // params a message may never set
    fc
      .tuple(
        fc.constantFrom<Record<string, string>>(
          { ip: "198.18.0.1", actionban: "touch /tmp/x" },
          { ip: "198.18.0.1", family: "inet6" },
          { ip: "198.18.0.1", name: "a\u0000b" },
          { ip: "198.18.0.1", ban: "x" },
          { ip: "198.18.0.1", failures: "1; x" },
          { ip: "198.18.0.1", "F-user": "x" },
          { ip: "198.18.0.1", Name: "x" },
          { name: "no-ip" },
        ),
        id,
      )
      .map(([params, i]) => exec("net2ban-demo", "actionban", params, i)),
    // updates this agent must not write
    fc
      .tuple(fc.constantFrom("agent2", "agent10", "server"), id)
      .filter(([client]) => client !== self)
      .map(([client, i]) => update("x", "W0RlZmluaXRpb25d", client, i)),
    fc
      .tuple(fc.constantFrom("a.b", "x.conf", "_x", "a".repeat(64) + "b"), id)
      .filter(([file]) => file.length <= 64)
      .map(([file, i]) => update(file, "W0RlZmluaXRpb25d", self, i)),
    fc
      .tuple(fc.constantFrom(bigContent, Buffer.from("[Definition]\u0000").toString("base64")), id)
      .map(([content, i]) => update("x", content, self, i)),
  );
}

// ---- the harness ------------------------------------------------------------------------------

/**
 * Feeds `runs` bodies: each must come back "reject" with exactly one warn/error line whose reason
 * matches, and nothing may run. A handler that throws is a crash and fails the property.
 */
async function expectAllRejected(
  target: Target,
  bodies: fc.Arbitrary<Buffer>,
  { runs: numRuns, seed, reason }: { runs: number; seed: number; reason: RegExp },
): Promise<void> {
  const ranBefore = runs;
  await fc.assert(
    fc.asyncProperty(bodies, fc.boolean(), async (body, again) => {
      tally.cases++;
      const lines = target.logger.lines;
      const warned = target.logger.warnOrError;
      let verdict: Verdict;
      try {
        verdict = await target.agent.handleCommand(delivery(body, again));
      } catch (error) {
        tally.crashes++;
        throw error;
      }
      tally.executions += runs - ranBefore;
      expect(runs).toBe(ranBefore);
      expect(verdict).toBe("reject");
      expect(target.logger.lines - lines).toBe(1);
      expect(target.logger.warnOrError - warned).toBe(1);
      expect(target.logger.last).toMatch(reason);
    }),
    { seed, numRuns, endOnFailure: true },
  );
}

/**
 * v1's MAC key is the shared `authkey`, so a message sealed under another peer's `key` passes the MAC and
 * is stopped only after decryption, as garbage (docs/protocol.md: v1 recipient confusion).
 */
function v1Lenient(protocol: 1 | 2, reason: RegExp): RegExp {
  return protocol === 2 ? reason : new RegExp(`${reason.source}|^(bad-padding|bad-utf8|bad-json|schema)`);
}

function bitFlipped(wires: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(wires, fc.nat(), fc.integer({ min: 0, max: 7 })).map(([wire, at, bit]) => {
    const copy = Buffer.from(wire);
    const i = at % copy.length;
    copy[i] = (copy[i] ?? 0) ^ (1 << bit);
    return copy;
  });
}

function truncated(wires: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(wires, fc.nat()).map(([wire, at]) => Buffer.from(wire.subarray(0, at % wire.length)));
}

function extended(wires: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(wires, fc.uint8Array({ minLength: 1, maxLength: 64 }))
    .map(([wire, tail]) => Buffer.concat([wire, tail]));
}

const ENVELOPE = /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/;

describe.each(["agent1", "agent2"] as const)("agent handler, %s", (self) => {
  const other = self === "agent1" ? "agent2" : "agent1";
  let target: Target;
  let good: Codec;
  let share = 1;
  const n = (count: number) => Math.round(count * share);

  test("setup: keys derived, a valid ban runs exactly once", async () => {
    target = await makeTarget(self);
    // v1 shares every check after the envelope with v2: a quarter of the cases covers its own parser.
    share = target.protocol === 2 ? 1 : 0.25;
    good = await createCodec({
      protocol: target.protocol,
      keyId: self,
      direction: "to-agent",
      keys: material(KEYS[self]),
    });
    const [message] = fc.sample(fresh, { seed: SEED, numRuns: 1 });
    const before = runs;
    expect(await target.agent.handleCommand(delivery(good.seal(message!)))).toBe("ack");
    expect(runs).toBeGreaterThan(before);
  });

  test("random bytes of every length up to 1 KiB", async () => {
    await expectAllRejected(target, fc.uint8Array({ maxLength: 1024 }).map(Buffer.from), {
      runs: n(12_000),
      seed: SEED + 1,
      reason: ENVELOPE,
    });
  });

  test("random bytes behind a well-formed v2 header for this agent", async () => {
    const header = Buffer.from([2, 2, self.length, ...Buffer.from(self)]);
    await expectAllRejected(
      target,
      fc.uint8Array({ maxLength: 600 }).map((tail) => Buffer.concat([header, tail])),
      { runs: n(6_000), seed: SEED + 2, reason: /^(bad-length|mac-mismatch)/ },
    );
  });

  test("truncated valid envelopes", async () => {
    await expectAllRejected(target, truncated(sealed(good, fresh)), {
      runs: n(8_000),
      seed: SEED + 3,
      reason: ENVELOPE,
    });
  });

  test("valid envelopes with bytes appended", async () => {
    await expectAllRejected(target, extended(sealed(good, fresh)), {
      runs: n(5_000),
      seed: SEED + 4,
      reason: /^(bad-length|mac-mismatch)/,
    });
  });

  test("oversized: 2 MiB and more, before any MAC work", async () => {
    const huge = fc
      .tuple(fc.integer({ min: 2 * 1024 * 1024, max: 3 * 1024 * 1024 }), fc.nat(255))
      .map(([size, fill]) => Buffer.alloc(size, fill));
    await expectAllRejected(target, huge, { runs: 20, seed: SEED + 5, reason: ENVELOPE });
  });

  test("every bit position of valid envelopes flipped", async () => {
    await expectAllRejected(target, bitFlipped(sealed(good, fresh)), {
      runs: n(20_000),
      seed: SEED + 6,
      reason: ENVELOPE,
    });
  });

  test("sealed with a wrong key, secret, authkey or rounds", async () => {
    const protocol = target.protocol;
    const codec = (keys: ReturnType<typeof material>) =>
      createCodec({ protocol, keyId: self, direction: "to-agent", keys });
    const wrong = await Promise.all([
      codec(material("not-the-key")),
      codec(material(KEYS[self], { secret: "x" })),
      codec(material(KEYS[self], { authkey: "x" })),
      codec(material(KEYS[self], { rounds: 999 })),
    ]);
    const bodies = fc
      .tuple(fc.nat(wrong.length - 1), fresh, iv)
      .map(([i, m, v]) => wrong[i]!.seal(m, { iv: v }));
    await expectAllRejected(target, bodies, {
      runs: n(8_000),
      seed: SEED + 7,
      reason: v1Lenient(protocol, /^(mac-mismatch)/),
    });
  });

  test("sealed for another agent, for the server, or as a result", async () => {
    const protocol = target.protocol;
    const others = await Promise.all([
      createCodec({ protocol, keyId: other, direction: "to-agent", keys: material(KEYS[other]) }),
      createCodec({ protocol, keyId: "server", direction: "to-server", keys: material(KEYS.server) }),
      createCodec({ protocol: 2, keyId: self, direction: "from-agent", keys: material(KEYS[self]) }),
      // v1 binds no key id nor direction: this agent's own v1 keys seal the same bytes for any of them.
      ...(protocol === 2
        ? [
            createCodec({ protocol, keyId: other, direction: "to-agent", keys: material(KEYS[self]) }),
            createCodec({ protocol, keyId: self, direction: "to-server", keys: material(KEYS[self]) }),
          ]
        : []),
    ]);
    const bodies = fc
      .tuple(fc.nat(others.length - 1), fresh, iv)
      .map(([i, m, v]) => sealPlaintext(others[i]!, JSON.stringify(m), { iv: v }));
    await expectAllRejected(target, bodies, {
      runs: n(8_000),
      seed: SEED + 8,
      reason: v1Lenient(protocol, ENVELOPE),
    });
  });

  test("replayed: each of 500 commands that ran delivered again, up to 20 times", async () => {
    const originals = fc.sample(sealed(good, fresh), { seed: SEED + 9, numRuns: 500 });
    const before = runs;
    for (const wire of originals) expect(await target.agent.handleCommand(delivery(wire))).toBe("ack");
    expect(runs - before).toBeGreaterThanOrEqual(originals.length);
    await expectAllRejected(target, fc.constantFrom(...originals), {
      runs: n(10_000),
      seed: SEED + 10,
      reason: /^replay/,
    });
  });

  test("expired: older than valid_wtime", async () => {
    const old = execRequest(fc.integer({ min: WINDOW + 1, max: 10 * 365 * 86400 }));
    await expectAllRejected(target, sealed(good, old), {
      runs: n(5_000),
      seed: SEED + 11,
      reason: /^expired/,
    });
  });

  test("future-dated beyond the 60 s clock skew", async () => {
    const ahead = execRequest(fc.integer({ min: -10 * 365 * 86400, max: -61 }));
    await expectAllRejected(target, sealed(good, ahead), {
      runs: n(5_000),
      seed: SEED + 12,
      reason: /^future/,
    });
  });

  test("wrong version: the other protocol's envelope, or another version byte", async () => {
    const otherProtocol = await createCodec({
      protocol: target.protocol === 2 ? 1 : 2,
      keyId: self,
      direction: "to-agent",
      keys: material(KEYS[self]),
    });
    const versionByte = fc
      .tuple(sealed(good, fresh), fc.integer({ min: 0, max: 255 }))
      .filter(([wire, b]) => b !== 2 && b !== wire[0])
      .map(([wire, b]) => {
        const copy = Buffer.from(wire);
        copy[0] = b;
        return copy;
      });
    await expectAllRejected(target, fc.oneof(sealed(otherProtocol, fresh), versionByte), {
      runs: n(5_000),
      seed: SEED + 13,
      reason: ENVELOPE,
    });
  });

  test("valid envelopes around invalid JSON, bad UTF-8 and broken message shapes", async () => {
    const plaintexts = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v) ?? "null"),
      fc.string({ maxLength: 200 }),
      fc
        .uint8Array({ maxLength: 200 })
        .map((b) => Buffer.concat([Buffer.from('{"cmd":"exec"'), b, Buffer.from([0xff])])),
      brokenShape(fresh, target.protocol).map((m) => JSON.stringify(m)),
    );
    const bodies = fc.tuple(plaintexts, iv).map(([p, v]) => sealPlaintext(good, p, { iv: v }));
    await expectAllRejected(target, bodies, {
      runs: n(15_000),
      seed: SEED + 14,
      reason: /^(bad-utf8|bad-json|schema|wrong-command)/,
    });
  });

  test("well-formed commands the agent refuses: protected or bad ip, unknown action or operation, forbidden params, foreign or bad updates", async () => {
    await expectAllRejected(target, sealed(good, refusedCommand(self)), {
      runs: n(10_000),
      seed: SEED + 15,
      reason: /^(BanRefusedError|ParamRefusedError|ActionNotFoundError|UpdateRefusedError)$/,
    });
  });
});

describe("afterwards", () => {
  test("actions_dir holds only the action it started with", async () => {
    expect(await readdir(actionsDir)).toEqual(["net2ban-demo.conf"]);
  });

  test("memory stays bounded", () => {
    // The replay memory holds ~1000 ids; everything else is garbage once handled.
    expect(process.memoryUsage().rss - rss.before).toBeLessThan(256 * 2 ** 20);
  });
});
