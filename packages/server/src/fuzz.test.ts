// Hostile requests for the server's handler, in-process: malformed, truncated, oversized, bit-flipped,
// wrong-key, wrong-recipient, replayed, expired, future-dated and wrong-version envelopes, and valid
// envelopes around invalid JSON. Every one must be rejected with exactly one log line and forward nothing.
import { parseConfig } from "@net2ban/config";
import {
  type Codec,
  createCodec,
  createExecRequest,
  createUpdateRequest,
  type Net2banMessage,
} from "@net2ban/protocol";
import { sealPlaintext } from "@net2ban/protocol/testing";
import type { Logger } from "@net2ban/runtime";
import type { Broker, Delivery, PublishItem, Verdict } from "@net2ban/transport";
import fc from "fast-check";
import { afterAll, describe, expect, test, vi } from "vitest";
import { Net2banServer } from "./server.js";

// Tens of thousands of cases per test: a busy 2-core machine can take longer than the default 30 s.
vi.setConfig({ testTimeout: 300_000 });

const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const WINDOW = 3600;
const SEED = 20260615;

const KEYS = {
  secret: "fuzz-secret-57bae6f17927fee0309cd0fc",
  authkey: "fuzz-authkey-fe64809ba0286c72123d15ff",
  server: "fuzz-server-key-1e3648858a30a105374c",
  agent1: "fuzz-agent1-key-ca82cd669623f6434e02",
  agent2: "fuzz-agent2-key-767c138a4483e692f41a",
};

function configText(protocol: 1 | 2): string {
  return `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = ${KEYS.secret}
mode = server
valid_wtime = ${WINDOW}
authkey = ${KEYS.authkey}
queue_prefix = fuzz_
ignoreip = 10.0.0.0/8

[server]
input = fuzz_input
key = ${KEYS.server}
protocol = ${protocol}

[agent1]
key = ${KEYS.agent1}

[agent2]
key = ${KEYS.agent2}
protocol = 1
`;
}

/** Rejections by reason code, over both servers: where each kind of input was stopped. */
const reasonCounts = new Map<string, number>();

/** Counts lines instead of keeping them: 100,000 rejections must not grow the heap. */
class CountingLogger {
  lines = 0;
  warnOrError = 0;
  /** The last line's `reason` field (rejections) or its message (the server's own refusals). */
  last = "";
  info(_o: object, msg?: string): void {
    this.lines++;
    this.last = msg ?? "";
  }
  debug(): void {}
  warn(o: object, msg?: string): void {
    this.lines++;
    this.warnOrError++;
    const reason = (o as { reason?: unknown }).reason;
    this.last = typeof reason === "string" ? reason : (msg ?? "");
    const code = typeof reason === "string" ? (reason.split(":")[0] ?? reason) : "refused by the server";
    reasonCounts.set(code, (reasonCounts.get(code) ?? 0) + 1);
  }
  error(o: object, msg?: string): void {
    this.warn(o, msg);
  }
  child(): CountingLogger {
    return this;
  }
}

/**
 * handleRequest only ever calls publishAll; any other Broker method reached here is a bug in this test,
 * so it throws (a Proxy keeps this fake independent of methods the transport adds later).
 */
function countingBroker(): Broker & { forwarded: PublishItem[] } {
  const forwarded: PublishItem[] = [];
  const fake = {
    forwarded,
    publishAll: async (items: PublishItem[]) => {
      forwarded.push(...items);
    },
  };
  return new Proxy(fake, {
    get(target, property, receiver) {
      if (property in target) return Reflect.get(target, property, receiver);
      return () => {
        throw new Error(`fake broker: ${String(property)} is not used by handleRequest`);
      };
    },
  }) as unknown as Broker & { forwarded: PublishItem[] };
}

interface Target {
  server: Net2banServer;
  logger: CountingLogger;
  broker: ReturnType<typeof countingBroker>;
  protocol: 1 | 2;
}

async function makeTarget(protocol: 1 | 2): Promise<Target> {
  const { config } = parseConfig(configText(protocol), "fuzz.cfg");
  const logger = new CountingLogger();
  const broker = countingBroker();
  const server = await Net2banServer.create(config, {
    broker,
    logger: logger as unknown as Logger,
    now: () => NOW_MS,
    protectedAddresses: { localAddresses: () => ["192.0.2.2"], resolveHost: false },
  });
  return { server, logger, broker, protocol };
}

const material = (key: string, over: Partial<typeof KEYS & { rounds: number }> = {}) => ({
  key,
  secret: over.secret ?? KEYS.secret,
  authkey: over.authkey ?? KEYS.authkey,
  rounds: over.rounds ?? 1000,
});

let delivered = 0;
function delivery(body: Buffer, redelivered = false): Delivery {
  delivered++;
  return { body, redelivered, deliveryTag: delivered, headers: {} };
}

// ---- message arbitraries ----------------------------------------------------------------------

/** Addresses nobody protects: 198.18.0.0/15 (benchmarking), so a valid ban is really forwarded. */
const freeIp = fc.nat(0x1ffff).map((n) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`);
const iv = fc.uint8Array({ minLength: 16, maxLength: 16 });
const id = fc.uuid({ version: 4 });

/** Schema-valid exec requests, `age` seconds old. */
function execRequest(age: fc.Arbitrary<number>): fc.Arbitrary<Net2banMessage> {
  return fc
    .record({
      file: fc.constantFrom("iptables-multiport", "nftables", "net2ban-demo"),
      action: fc.constantFrom("actionban", "actionunban"),
      ip: freeIp,
      name: fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/),
      age,
      id,
    })
    .map((r) =>
      createExecRequest({
        file: r.file,
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
  "iptables multiport",
  "ｉｐｔａｂｌｅｓ",
);

/**
 * A valid request with one change that no schema accepts. v1 strips unknown keys, so for it only the
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

// ---- the harness ------------------------------------------------------------------------------

interface Tally {
  cases: number;
  crashes: number;
  forwarded: number;
}
const tally: Tally = { cases: 0, crashes: 0, forwarded: 0 };
const rss = { before: process.memoryUsage().rss, after: 0 };

/**
 * Feeds `runs` bodies from `bodies`: each must come back "reject" with exactly one warn/error line and
 * nothing forwarded. A handler that throws is a crash and fails the property.
 */
async function expectAllRejected(
  target: Target,
  bodies: fc.Arbitrary<Buffer>,
  { runs, seed, reason }: { runs: number; seed: number; reason: RegExp },
): Promise<void> {
  const forwardedBefore = target.broker.forwarded.length;
  await fc.assert(
    fc.asyncProperty(bodies, fc.boolean(), async (body, again) => {
      tally.cases++;
      const lines = target.logger.lines;
      const warned = target.logger.warnOrError;
      let verdict: Verdict;
      try {
        verdict = await target.server.handleRequest(delivery(body, again));
      } catch (error) {
        tally.crashes++;
        throw error;
      }
      expect(verdict).toBe("reject");
      expect(target.logger.lines - lines).toBe(1);
      expect(target.logger.warnOrError - warned).toBe(1);
      expect(target.logger.last).toMatch(reason);
      expect(target.broker.forwarded.length).toBe(forwardedBefore);
    }),
    { seed, numRuns: runs, endOnFailure: true },
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

afterAll(() => {
  rss.after = process.memoryUsage().rss;
  console.log(
    `server fuzz: ${tally.cases} cases, ${tally.crashes} crashes, ${tally.forwarded} forwarded, ` +
      `RSS ${(rss.before / 2 ** 20).toFixed(0)} MiB before, ${(rss.after / 2 ** 20).toFixed(0)} MiB after`,
  );
  console.log(`server fuzz rejections by reason: ${JSON.stringify(Object.fromEntries(reasonCounts))}`);
});

describe.each([2, 1] as const)("server handler, protocol %i input", (protocol) => {
  // v1 shares every check after the envelope with v2: a quarter of the cases covers its own parser.
  const share = protocol === 2 ? 1 : 0.25;
  const runs = (n: number) => Math.round(n * share);
  let target: Target;
  let good: Codec;

  test("setup: keys derived, a valid request is forwarded to both agents", async () => {
    target = await makeTarget(protocol);
    good = await createCodec({
      protocol,
      keyId: "server",
      direction: "to-server",
      keys: material(KEYS.server),
    });
    const [message] = fc.sample(fresh, { seed: SEED, numRuns: 1 });
    expect(await target.server.handleRequest(delivery(good.seal(message!)))).toBe("ack");
    expect(target.broker.forwarded.map((f) => f.queue)).toEqual(["fuzz_agent1", "fuzz_agent2"]);
    tally.forwarded += 2;
  });

  test("random bytes of every length up to 1 KiB", async () => {
    await expectAllRejected(target, fc.uint8Array({ maxLength: 1024 }).map(Buffer.from), {
      runs: runs(12_000),
      seed: SEED + 1,
      reason: /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/,
    });
  });

  test("random bytes behind a well-formed v2 header for this server", async () => {
    const header = Buffer.from([2, 1, 6, ...Buffer.from("server")]);
    await expectAllRejected(
      target,
      fc.uint8Array({ minLength: 0, maxLength: 600 }).map((tail) => Buffer.concat([header, tail])),
      { runs: runs(6_000), seed: SEED + 2, reason: /^(bad-length|mac-mismatch)/ },
    );
  });

  test("truncated valid envelopes", async () => {
    await expectAllRejected(target, truncated(sealed(good, fresh)), {
      runs: runs(8_000),
      seed: SEED + 3,
      reason: /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/,
    });
  });

  test("valid envelopes with bytes appended", async () => {
    await expectAllRejected(target, extended(sealed(good, fresh)), {
      runs: runs(5_000),
      seed: SEED + 4,
      reason: /^(bad-length|mac-mismatch)/,
    });
  });

  test("oversized: 2 MiB and more, before any MAC work", async () => {
    const huge = fc
      .tuple(fc.integer({ min: 2 * 1024 * 1024, max: 3 * 1024 * 1024 }), fc.nat(255))
      .map(([size, fill]) => Buffer.alloc(size, fill));
    await expectAllRejected(target, huge, {
      runs: 20,
      seed: SEED + 5,
      reason: /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/,
    });
  });

  test("every bit position of valid envelopes flipped", async () => {
    await expectAllRejected(target, bitFlipped(sealed(good, fresh)), {
      runs: runs(20_000),
      seed: SEED + 6,
      reason: /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/,
    });
  });

  test("sealed with a wrong key, secret, authkey or rounds", async () => {
    const wrong = await Promise.all([
      createCodec({ protocol, keyId: "server", direction: "to-server", keys: material("not-the-key") }),
      createCodec({
        protocol,
        keyId: "server",
        direction: "to-server",
        keys: material(KEYS.server, { secret: "x" }),
      }),
      createCodec({
        protocol,
        keyId: "server",
        direction: "to-server",
        keys: material(KEYS.server, { authkey: "x" }),
      }),
      createCodec({
        protocol,
        keyId: "server",
        direction: "to-server",
        keys: material(KEYS.server, { rounds: 999 }),
      }),
    ]);
    const bodies = fc
      .tuple(fc.nat(wrong.length - 1), fresh, iv)
      .map(([i, m, v]) => wrong[i]!.seal(m, { iv: v }));
    await expectAllRejected(target, bodies, {
      runs: runs(8_000),
      seed: SEED + 7,
      reason: v1Lenient(protocol, /^(mac-mismatch)/),
    });
  });

  test("sealed for another recipient or direction (an agent's key, agent-bound, results)", async () => {
    const others = await Promise.all([
      createCodec({ protocol, keyId: "agent1", direction: "to-agent", keys: material(KEYS.agent1) }),
      createCodec({ protocol, keyId: "agent1", direction: "to-server", keys: material(KEYS.agent1) }),
      createCodec({ protocol: 2, keyId: "agent2", direction: "from-agent", keys: material(KEYS.agent2) }),
      // v1 binds no direction: the server's own v1 keys seal the same bytes both ways, so only v2 has this case.
      ...(protocol === 2
        ? [createCodec({ protocol, keyId: "server", direction: "to-agent", keys: material(KEYS.server) })]
        : []),
    ]);
    const bodies = fc
      .tuple(fc.nat(others.length - 1), fresh, iv)
      .map(([i, m, v]) => sealPlaintext(others[i]!, JSON.stringify(m), { iv: v }));
    await expectAllRejected(target, bodies, {
      runs: runs(8_000),
      seed: SEED + 8,
      reason: v1Lenient(protocol, /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/),
    });
  });

  test("replayed: each of 500 accepted requests delivered again, up to 20 times", async () => {
    const originals = fc.sample(sealed(good, fresh), { seed: SEED + 9, numRuns: 500 });
    for (const wire of originals) expect(await target.server.handleRequest(delivery(wire))).toBe("ack");
    tally.forwarded += 2 * originals.length;
    expect(target.broker.forwarded).toHaveLength(2 + 2 * originals.length);
    await expectAllRejected(target, fc.constantFrom(...originals), {
      runs: runs(10_000),
      seed: SEED + 10,
      reason: /^(replay)/,
    });
  });

  test("expired: older than valid_wtime", async () => {
    const old = execRequest(fc.integer({ min: WINDOW + 1, max: 10 * 365 * 86400 }));
    await expectAllRejected(target, sealed(good, old), {
      runs: runs(5_000),
      seed: SEED + 11,
      reason: /^(expired)/,
    });
  });

  test("future-dated beyond the 60 s clock skew", async () => {
    const ahead = execRequest(fc.integer({ min: -10 * 365 * 86400, max: -61 }));
    await expectAllRejected(target, sealed(good, ahead), {
      runs: runs(5_000),
      seed: SEED + 12,
      reason: /^(future)/,
    });
  });

  test("wrong version: the other protocol's envelope, or another version byte", async () => {
    const other = await createCodec({
      protocol: protocol === 2 ? 1 : 2,
      keyId: "server",
      direction: "to-server",
      keys: material(KEYS.server),
    });
    const otherWire = sealed(other, fresh);
    const versionByte = fc
      .tuple(sealed(good, fresh), fc.integer({ min: 0, max: 255 }))
      .filter(([wire, b]) => b !== 2 && b !== wire[0])
      .map(([wire, b]) => {
        const copy = Buffer.from(wire);
        copy[0] = b;
        return copy;
      });
    await expectAllRejected(target, fc.oneof(otherWire, versionByte), {
      runs: runs(5_000),
      seed: SEED + 13,
      reason: /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/,
    });
  });

  test("valid envelopes around invalid JSON, bad UTF-8 and broken message shapes", async () => {
    const plaintexts = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v) ?? "null"),
      fc.string({ maxLength: 200 }),
      fc
        .uint8Array({ maxLength: 200 })
        .map((b) => Buffer.concat([Buffer.from('{"cmd":"exec"'), b, Buffer.from([0xff])])),
      brokenShape(fresh, protocol).map((m) => JSON.stringify(m)),
    );
    const bodies = fc.tuple(plaintexts, iv).map(([p, v]) => sealPlaintext(good, p, { iv: v }));
    await expectAllRejected(target, bodies, {
      runs: runs(15_000),
      seed: SEED + 14,
      reason: /^(bad-utf8|bad-json|schema|wrong-command)/,
    });
  });

  test("schema-valid requests the server refuses: protected ip, ip not an address, update for nobody", async () => {
    const refused = fc.oneof(
      fc
        .tuple(
          fc.constantFrom(
            "10.1.2.3",
            "127.0.0.1",
            "::1",
            "192.0.2.2",
            "192.0.2.50",
            "0.0.0.0/0",
            "::ffff:10.0.0.9",
          ),
          id,
        )
        .map(([ip, i]) =>
          createExecRequest({
            file: "net2ban-demo",
            action: "actionban",
            params: { ip },
            sender: "fuzz",
            id: i,
            now: () => NOW_MS,
          }),
        ),
      fc
        .tuple(
          fc.constantFrom("1.2.3.4; reboot", "$(reboot)", "`id`", "host.example", "1.2.3.4/33", ""),
          fc.constantFrom("actionban", "actionunban"),
          id,
        )
        .map(([ip, action, i]) =>
          createExecRequest({
            file: "net2ban-demo",
            action,
            params: { ip },
            sender: "fuzz",
            id: i,
            now: () => NOW_MS,
          }),
        ),
      fc.tuple(fc.constantFrom("agent3", "web1", "agent1x"), id).map(([client, i]) =>
        createUpdateRequest({
          file: "x",
          content: "W0RlZmluaXRpb25d",
          client,
          sender: "fuzz",
          id: i,
          now: () => NOW_MS,
        }),
      ),
    );
    await expectAllRejected(target, sealed(good, refused), {
      runs: runs(5_000),
      seed: SEED + 15,
      reason: /(refused|unknown client)/,
    });
  });
});

describe("memory", () => {
  test("stays bounded over the whole run", () => {
    const grown = process.memoryUsage().rss - rss.before;
    // The replay memory holds ~1000 ids; everything else is garbage once handled.
    expect(grown).toBeLessThan(256 * 2 ** 20);
  });
});
