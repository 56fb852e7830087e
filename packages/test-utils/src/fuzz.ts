// The harness of the agent's and the server's fuzz suites: the fleet's keys, a logger that counts lines
// instead of keeping them, message arbitraries (valid, stale, broken shapes), envelope mutators, and the
// property that every hostile body is rejected with exactly one log line and no effect. Plain functions
// and fast-check, no vitest: a failed check throws.
import {
  type Codec,
  createCodec,
  createExecRequest,
  type Direction,
  type Net2banMessage,
} from "@net2ban/protocol";
import { sealPlaintext } from "@net2ban/protocol/testing";
import type { Delivery } from "@net2ban/transport";
import fc from "fast-check";

/** The suites' clock: every valid message is stamped relative to it. */
export const FUZZ_NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
/** valid_wtime of the suites' configs (seconds). */
export const FUZZ_WINDOW = 3600;

/** Keys of the suites' fleet: one server, agent1 (v2) and agent2 (v1). */
export const FUZZ_KEYS = Object.freeze({
  secret: "fuzz-secret-57bae6f17927fee0309cd0fc",
  authkey: "fuzz-authkey-fe64809ba0286c72123d15ff",
  server: "fuzz-server-key-1e3648858a30a105374c",
  agent1: "fuzz-agent1-key-ca82cd669623f6434e02",
  agent2: "fuzz-agent2-key-767c138a4483e692f41a",
});

export interface FuzzKeyMaterial {
  key: string;
  secret: string;
  authkey: string;
  rounds: number;
}

/** A peer's key material with the fleet's secret, authkey and rounds, or one of them wrong. */
export function fuzzKeys(
  key: string,
  over: { secret?: string; authkey?: string; rounds?: number } = {},
): FuzzKeyMaterial {
  return {
    key,
    secret: over.secret ?? FUZZ_KEYS.secret,
    authkey: over.authkey ?? FUZZ_KEYS.authkey,
    rounds: over.rounds ?? 1000,
  };
}

/** Envelope rejections: the reasons a body is stopped with before anything is decrypted. */
export const ENVELOPE_REASON = /^(bad-length|wrong-version|wrong-direction|wrong-key-id|mac-mismatch)/;

/**
 * v1's MAC key is the shared `authkey`, so a message sealed under another peer's `key` passes the MAC and
 * is stopped only after decryption, as garbage (docs/protocol.md: v1 recipient confusion).
 */
export function v1Lenient(protocol: 1 | 2, reason: RegExp): RegExp {
  return protocol === 2 ? reason : new RegExp(`${reason.source}|^(bad-padding|bad-utf8|bad-json|schema)`);
}

// ---- what a suite counts ----------------------------------------------------------------------

/** Cases fed, handler crashes, effects seen (must stay 0), rejections by reason code, memory. */
export class FuzzStats {
  cases = 0;
  crashes = 0;
  effects = 0;
  readonly reasons = new Map<string, number>();
  readonly rssBefore = process.memoryUsage().rss;

  count(code: string): void {
    this.reasons.set(code, (this.reasons.get(code) ?? 0) + 1);
  }

  /** RSS grown since the stats were made (bytes). */
  grown(): number {
    return process.memoryUsage().rss - this.rssBefore;
  }

  /** Two lines for the end of a suite: the tally (with `extra` counts) and the rejections by reason. */
  summary(what: string, extra: Record<string, number> = {}): string {
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    const counts = Object.entries({ cases: this.cases, crashes: this.crashes, ...extra })
      .map(([name, value]) => `${value} ${name}`)
      .join(", ");
    return (
      `${what}: ${counts}, RSS ${mib(this.rssBefore)} MiB before, ${mib(process.memoryUsage().rss)} MiB after\n` +
      `${what} rejections by reason: ${JSON.stringify(Object.fromEntries(this.reasons))}`
    );
  }
}

/**
 * What a line without a `reason` (the handler's own refusal, not the envelope's) shows: `last` is what
 * the test matches, `code` what the stats count.
 */
export type RefusalLabel = (fields: { err?: unknown }, msg: string) => { last: string; code: string };

/** The agent's refusals are errors: shown by the error's name (`BanRefusedError`). */
export const refusalByErrorName: RefusalLabel = ({ err }, msg) => {
  const name = err instanceof Error ? err.name : msg;
  return { last: name, code: name };
};

/** Counts lines instead of keeping them: 100,000 rejections must not grow the heap. pino-shaped. */
export class CountingLogger {
  lines = 0;
  warnOrError = 0;
  /** The last warn/error line's `reason` (envelope rejections), else what `refusal` makes of it. */
  last = "";
  readonly #stats: FuzzStats;
  readonly #refusal: RefusalLabel;

  constructor(stats: FuzzStats, refusal: RefusalLabel) {
    this.#stats = stats;
    this.#refusal = refusal;
  }

  info(_fields: object, msg?: string): void {
    this.lines++;
    this.last = msg ?? "";
  }

  debug(): void {}

  warn(fields: object, msg?: string): void {
    this.lines++;
    this.warnOrError++;
    const { reason } = fields as { reason?: unknown };
    if (typeof reason === "string") {
      this.last = reason;
      this.#stats.count(reason.split(":")[0] ?? reason);
    } else {
      const { last, code } = this.#refusal(fields as { err?: unknown }, msg ?? "");
      this.last = last;
      this.#stats.count(code);
    }
  }

  error(fields: object, msg?: string): void {
    this.warn(fields, msg);
  }

  child(): CountingLogger {
    return this;
  }
}

let delivered = 0;
/** A delivery as the transport hands one to a handler. */
export function fuzzDelivery(body: Buffer, redelivered = false): Delivery {
  delivered++;
  return { body, redelivered, deliveryTag: delivered, headers: {} };
}

// ---- message arbitraries ----------------------------------------------------------------------

/** Addresses nobody protects: 198.18.0.0/15 (benchmarking), so a valid ban really goes through. */
export const freeIp = fc.nat(0x1ffff).map((n) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`);
export const iv = fc.uint8Array({ minLength: 16, maxLength: 16 });
export const messageId = fc.uuid({ version: 4 });

/** Schema-valid bans and unbans through one of `files`, `age` seconds old (negative: from the future). */
export function execRequest(
  files: readonly string[],
  age: fc.Arbitrary<number>,
): fc.Arbitrary<Net2banMessage> {
  return fc
    .record({
      file: fc.constantFrom(...files),
      action: fc.constantFrom("actionban", "actionunban"),
      ip: freeIp,
      name: fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/),
      age,
      id: messageId,
    })
    .map((r) =>
      createExecRequest({
        file: r.file,
        action: r.action,
        params: { ip: r.ip, name: r.name },
        sender: "fuzz",
        id: r.id,
        now: () => FUZZ_NOW_MS - r.age * 1000,
      }),
    );
}

/** Requests within valid_wtime (and a minute of margin). */
export const freshAge = fc.integer({ min: 0, max: FUZZ_WINDOW - 60 });
/** Requests older than valid_wtime. */
export const expiredAge = fc.integer({ min: FUZZ_WINDOW + 1, max: 10 * 365 * 86400 });
/** Requests dated beyond the 60 s clock skew allowed. */
export const futureAge = fc.integer({ min: -10 * 365 * 86400, max: -61 });

export function sealed(codec: Codec, messages: fc.Arbitrary<Net2banMessage>): fc.Arbitrary<Buffer> {
  return fc.tuple(messages, iv).map(([m, v]) => codec.seal(m, { iv: v }));
}

/** `messages` sealed by one of `codecs` through sealPlaintext: no direction check, as a hostile peer would. */
export function sealedUncheckedByOneOf(
  codecs: readonly Codec[],
  messages: fc.Arbitrary<Net2banMessage>,
): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.nat(codecs.length - 1), messages, iv)
    .map(([i, m, v]) => sealPlaintext(codecs[i]!, JSON.stringify(m), { iv: v }));
}

/** The recipient's codec with a wrong key, secret, authkey or rounds: the MAC (v2) must catch each. */
export function wrongKeyCodecs(
  protocol: 1 | 2,
  keyId: string,
  direction: Direction,
  key: string,
): Promise<Codec[]> {
  return Promise.all(
    [
      fuzzKeys("not-the-key"),
      fuzzKeys(key, { secret: "x" }),
      fuzzKeys(key, { authkey: "x" }),
      fuzzKeys(key, { rounds: 999 }),
    ].map((keys) => createCodec({ protocol, keyId, direction, keys })),
  );
}

/** `messages` sealed by one of `codecs` with its own envelope (a random pick each time). */
export function sealedByOneOf(
  codecs: readonly Codec[],
  messages: fc.Arbitrary<Net2banMessage>,
): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.nat(codecs.length - 1), messages, iv).map(([i, m, v]) => codecs[i]!.seal(m, { iv: v }));
}

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

/** File names no action file may have, plus `lookalikes` of the suite's own (spaced, full-width). */
function badFileName(lookalikes: readonly string[]): fc.Arbitrary<string> {
  return fc.constantFrom(
    "../evil",
    "/etc/passwd",
    ".hidden",
    "a/b",
    "..",
    "",
    "-rf",
    "x\u0000y",
    "a".repeat(65),
    ...lookalikes,
  );
}

/**
 * A valid message with one change that no schema accepts. v1 strips unknown keys, so for it only the
 * legacy fields are broken (a bad `id` or `to` is simply dropped there).
 */
export function brokenShape(
  base: fc.Arbitrary<Net2banMessage>,
  protocol: 1 | 2,
  lookalikes: readonly string[],
): fc.Arbitrary<unknown> {
  const required =
    protocol === 2
      ? ["cmd", "file", "action", "params", "timestamp", "id", "sender"]
      : ["cmd", "file", "action", "params", "timestamp"];
  const strings = protocol === 2 ? ["file", "action", "id", "sender"] : ["file", "action"];
  return fc
    .tuple(base, fc.nat(protocol === 2 ? 7 : 5), notAString, notATimestamp, badFileName(lookalikes), fc.nat())
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

/**
 * Valid envelopes of `codec` around plaintexts that are no message: any JSON value, any string, bytes
 * that are not UTF-8 after a message's start, and `brokenShape`s of `base`.
 */
export function sealedNonMessages(
  codec: Codec,
  base: fc.Arbitrary<Net2banMessage>,
  protocol: 1 | 2,
  lookalikes: readonly string[],
): fc.Arbitrary<Buffer> {
  const plaintexts = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v) ?? "null"),
    fc.string({ maxLength: 200 }),
    fc
      .uint8Array({ maxLength: 200 })
      .map((b) => Buffer.concat([Buffer.from('{"cmd":"exec"'), b, Buffer.from([0xff])])),
    brokenShape(base, protocol, lookalikes).map((m) => JSON.stringify(m)),
  );
  return fc.tuple(plaintexts, iv).map(([p, v]) => sealPlaintext(codec, p, { iv: v }));
}

// ---- envelope mutators ------------------------------------------------------------------------

/** Random bytes of every length up to 1 KiB. */
export const randomBodies = fc.uint8Array({ maxLength: 1024 }).map(Buffer.from);

/** 2 MiB and more: must be refused before any MAC work. */
export const hugeBodies = fc
  .tuple(fc.integer({ min: 2 * 1024 * 1024, max: 3 * 1024 * 1024 }), fc.nat(255))
  .map(([size, fill]) => Buffer.alloc(size, fill));

/** Random bytes behind `header` (a well-formed v2 header for the recipient). */
export function behind(header: Buffer): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength: 600 }).map((tail) => Buffer.concat([header, tail]));
}

export function bitFlipped(wires: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(wires, fc.nat(), fc.integer({ min: 0, max: 7 })).map(([wire, at, bit]) => {
    const copy = Buffer.from(wire);
    const i = at % copy.length;
    copy[i] = (copy[i] ?? 0) ^ (1 << bit);
    return copy;
  });
}

export function truncated(wires: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(wires, fc.nat()).map(([wire, at]) => Buffer.from(wire.subarray(0, at % wire.length)));
}

export function extended(wires: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(wires, fc.uint8Array({ minLength: 1, maxLength: 64 }))
    .map(([wire, tail]) => Buffer.concat([wire, tail]));
}

/** Wires with a version byte that is neither 2 nor their own. */
export function reversioned(wires: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(wires, fc.integer({ min: 0, max: 255 }))
    .filter(([wire, b]) => b !== 2 && b !== wire[0])
    .map(([wire, b]) => {
      const copy = Buffer.from(wire);
      copy[0] = b;
      return copy;
    });
}

// ---- the cases every receiver must reject ------------------------------------------------------

/** A receiver under fuzz, as the shared cases see it. */
export interface Receiver {
  protocol: 1 | 2;
  /** The receiver's own codec: the valid envelopes the cases mutate. */
  codec: Codec;
  /** The receiver's key id, direction and key (what its senders seal with). */
  keyId: string;
  direction: Direction;
  key: string;
  /** Valid messages for it, `age` seconds old. */
  messages: (age: fc.Arbitrary<number>) => fc.Arbitrary<Net2banMessage>;
  /** Look-alikes of its action file names, for broken shapes. */
  lookalikes: readonly string[];
}

/** One kind of hostile body: a suite runs each with expectAllRejected. */
export interface HostileCase {
  name: string;
  /** Cases for a v2 receiver; suites scale them down for v1 unless `unscaled`. */
  runs: number;
  unscaled?: boolean;
  /** Added to the suite's seed (as the suites had them, so the cases stay the same). */
  seed: number;
  reason: (protocol: 1 | 2) => RegExp;
  bodies: (receiver: Receiver) => fc.Arbitrary<Buffer> | Promise<fc.Arbitrary<Buffer>>;
}

/** Direction codes of a v2 header (docs/protocol.md), written out rather than taken from the code under test. */
const DIRECTION_BYTE: Readonly<Record<Direction, number>> = {
  "to-server": 1,
  "to-agent": 2,
  "from-agent": 3,
  "from-server": 4,
};

const always = (reason: RegExp) => () => reason;
const fresh = (r: Receiver) => r.messages(freshAge);

/**
 * What every receiver (the server's input, each agent's queue) must reject before or while opening the
 * envelope: garbage, mutations of valid envelopes, wrong keys, stale or future messages, the other
 * protocol, and valid envelopes around plaintexts that are no message. Wrong recipients, replays and
 * the receiver's own refusals depend on the receiver and stay in its suite.
 */
export const HOSTILE_ENVELOPES: readonly HostileCase[] = [
  {
    name: "random bytes of every length up to 1 KiB",
    runs: 12_000,
    seed: 1,
    reason: always(ENVELOPE_REASON),
    bodies: () => randomBodies,
  },
  {
    name: "random bytes behind a well-formed v2 header for the receiver",
    runs: 6_000,
    seed: 2,
    reason: always(/^(bad-length|mac-mismatch)/),
    bodies: (r) =>
      behind(Buffer.from([2, DIRECTION_BYTE[r.direction], r.keyId.length, ...Buffer.from(r.keyId)])),
  },
  {
    name: "truncated valid envelopes",
    runs: 8_000,
    seed: 3,
    reason: always(ENVELOPE_REASON),
    bodies: (r) => truncated(sealed(r.codec, fresh(r))),
  },
  {
    name: "valid envelopes with bytes appended",
    runs: 5_000,
    seed: 4,
    reason: always(/^(bad-length|mac-mismatch)/),
    bodies: (r) => extended(sealed(r.codec, fresh(r))),
  },
  {
    name: "oversized: 2 MiB and more, before any MAC work",
    runs: 20,
    unscaled: true,
    seed: 5,
    reason: always(ENVELOPE_REASON),
    bodies: () => hugeBodies,
  },
  {
    name: "every bit position of valid envelopes flipped",
    runs: 20_000,
    seed: 6,
    reason: always(ENVELOPE_REASON),
    bodies: (r) => bitFlipped(sealed(r.codec, fresh(r))),
  },
  {
    name: "sealed with a wrong key, secret, authkey or rounds",
    runs: 8_000,
    seed: 7,
    reason: (protocol) => v1Lenient(protocol, /^(mac-mismatch)/),
    bodies: async (r) =>
      sealedByOneOf(await wrongKeyCodecs(r.protocol, r.keyId, r.direction, r.key), fresh(r)),
  },
  {
    name: "expired: older than valid_wtime",
    runs: 5_000,
    seed: 11,
    reason: always(/^expired/),
    bodies: (r) => sealed(r.codec, r.messages(expiredAge)),
  },
  {
    name: "future-dated beyond the 60 s clock skew",
    runs: 5_000,
    seed: 12,
    reason: always(/^future/),
    bodies: (r) => sealed(r.codec, r.messages(futureAge)),
  },
  {
    name: "wrong version: the other protocol's envelope, or another version byte",
    runs: 5_000,
    seed: 13,
    reason: always(ENVELOPE_REASON),
    bodies: async (r) => {
      const other = await createCodec({
        protocol: r.protocol === 2 ? 1 : 2,
        keyId: r.keyId,
        direction: r.direction,
        keys: fuzzKeys(r.key),
      });
      return fc.oneof(sealed(other, fresh(r)), reversioned(sealed(r.codec, fresh(r))));
    },
  },
  {
    name: "valid envelopes around invalid JSON, bad UTF-8 and broken message shapes",
    runs: 15_000,
    seed: 14,
    reason: always(/^(bad-utf8|bad-json|schema|wrong-command)/),
    bodies: (r) => sealedNonMessages(r.codec, fresh(r), r.protocol, r.lookalikes),
  },
];

// ---- the property -----------------------------------------------------------------------------

/** A handler under fuzz. */
export interface FuzzTarget {
  logger: CountingLogger;
  stats: FuzzStats;
  handle(delivery: Delivery): Promise<string>;
  /** Work done so far that a rejected body must not add to (actions run, requests forwarded). */
  effects(): number;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/**
 * Feeds `runs` bodies from `bodies`, each also as a redelivery at random: each must come back "reject"
 * with exactly one warn/error line whose reason matches, and no effect. A handler that throws is a crash
 * and fails the property.
 */
export async function expectAllRejected(
  target: FuzzTarget,
  bodies: fc.Arbitrary<Buffer>,
  { runs, seed, reason }: { runs: number; seed: number; reason: RegExp },
): Promise<void> {
  const effectsBefore = target.effects();
  await fc.assert(
    fc.asyncProperty(bodies, fc.boolean(), async (body, again) => {
      const { logger, stats } = target;
      stats.cases++;
      const lines = logger.lines;
      const warned = logger.warnOrError;
      let verdict: string;
      try {
        verdict = await target.handle(fuzzDelivery(body, again));
      } catch (error) {
        stats.crashes++;
        throw error;
      }
      const effects = target.effects() - effectsBefore;
      stats.effects += effects;
      check(effects === 0, `expected no effect, got ${effects}`);
      check(verdict === "reject", `expected the verdict "reject", got ${JSON.stringify(verdict)}`);
      check(logger.lines - lines === 1, `expected one log line, got ${logger.lines - lines}`);
      check(
        logger.warnOrError - warned === 1,
        `expected one warn/error line, got ${logger.warnOrError - warned}`,
      );
      check(
        reason.test(logger.last),
        `expected a line matching ${reason}, got ${JSON.stringify(logger.last)}`,
      );
    }),
    { seed, numRuns: runs, endOnFailure: true },
  );
}

/**
 * Runs one of HOSTILE_ENVELOPES against `target`: `share` scales the runs (suites give a v1 receiver a
 * quarter, as v1 shares every check after the envelope with v2), `seed` is the suite's.
 */
export async function expectHostileRejected(
  target: FuzzTarget,
  receiver: Receiver,
  hostile: HostileCase,
  { seed, share }: { seed: number; share: number },
): Promise<void> {
  await expectAllRejected(target, await hostile.bodies(receiver), {
    runs: hostile.unscaled === true ? hostile.runs : Math.round(hostile.runs * share),
    seed: seed + hostile.seed,
    reason: hostile.reason(receiver.protocol),
  });
}
