// Both envelopes through the codec: vectors both ways, tampering, confusion between peers, and properties.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createExecBanRequest, createResultMessage } from "./builders.js";
import { type Codec, type CodecOptions, createCodec } from "./codec.js";
import { MessageRejectedError, type RejectCode } from "./errors.js";
import { type Direction, KeyCache, type KeyMaterial } from "./keys.js";
import type { ExecMessage, Net2banMessage } from "./messages.js";

function vectors<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../test/vectors/${file}`, import.meta.url), "utf8")) as T;
}
interface LegacyVector extends KeyMaterial {
  name: string;
  iv_hex?: string;
  plaintext_json?: string;
  wire_b64: string;
  wire_hex_len: number;
  expect?: "reject";
  reason?: string;
}
interface V2Vector {
  name: string;
  keys: KeyMaterial;
  keyId: string;
  direction: Direction;
  iv_hex?: string;
  plaintext_json?: string;
  wire_b64: string;
  expect?: "reject";
  code?: RejectCode;
  reason?: string;
}
const legacy = vectors<{ vectors: LegacyVector[] }>("legacy-v1.json").vectors;
const v2 = vectors<{ vectors: V2Vector[] }>("v2.json").vectors;

/** Runs `open` and returns the rejection, failing the test if it was accepted or threw anything else. */
function rejection(codec: Codec, wire: Uint8Array): MessageRejectedError {
  try {
    codec.open(wire);
  } catch (error) {
    expect(error).toBeInstanceOf(MessageRejectedError);
    expect((error as Error).message).toBe("message rejected");
    expect((error as Error).name).toBe("MessageRejectedError");
    return error as MessageRejectedError;
  }
  throw new Error(`accepted a wire that must be rejected (${wire.length} bytes)`);
}

const server: KeyMaterial = {
  key: "server key",
  secret: "shared secret",
  rounds: 50,
  authkey: "shared authkey",
};
const client1: KeyMaterial = { ...server, key: "client1 key" };
const client2: KeyMaterial = { ...server, key: "client2 key" };
const ban: ExecMessage = createExecBanRequest({
  ip: "203.0.113.9",
  name: "sshd",
  sender: "correlator",
  id: "7d444840-9dc0-11d1-b245-5ffdce74fad2",
  now: () => 1_700_000_000_250,
});
const iv = Buffer.from("00112233445566778899aabbccddeeff", "hex");

const codecs: Record<string, Codec> = {};
const make = (name: string, options: CodecOptions) =>
  createCodec(options).then((codec) => {
    codecs[name] = codec;
  });
beforeAll(async () => {
  const cache = new KeyCache();
  await Promise.all([
    make("v2 to-server", { protocol: 2, keyId: "server", direction: "to-server", keys: server, cache }),
    make("v2 client1", { protocol: 2, keyId: "client1", direction: "to-agent", keys: client1, cache }),
    make("v2 client2", { protocol: 2, keyId: "client2", direction: "to-agent", keys: client2, cache }),
    make("v2 client1 results", {
      protocol: 2,
      keyId: "client1",
      direction: "from-agent",
      keys: client1,
      cache,
    }),
    make("v2 client1 as to-server", {
      protocol: 2,
      keyId: "client1",
      direction: "to-server",
      keys: client1,
      cache,
    }),
    make("v1 to-server", { protocol: 1, keyId: "server", direction: "to-server", keys: server, cache }),
    make("v1 client1", { protocol: 1, keyId: "client1", direction: "to-agent", keys: client1, cache }),
    make("v1 client2", { protocol: 1, keyId: "client2", direction: "to-agent", keys: client2, cache }),
  ]);
});
const codec = (name: string): Codec => {
  const found = codecs[name];
  if (found === undefined) throw new Error(`no codec ${name}`);
  return found;
};

describe("legacy vectors (test/vectors/legacy-v1.json)", () => {
  const positives = legacy.filter((vector) => vector.expect === undefined);
  const negatives = legacy.filter((vector) => vector.expect === "reject");
  it("8 positive and 3 negative vectors", () => {
    expect(positives).toHaveLength(8);
    expect(negatives).toHaveLength(3);
  });

  it.each(positives)("$name: decodes to the plaintext and re-encodes byte for byte", async (vector) => {
    const v1 = await createCodec({ protocol: 1, keyId: "server", direction: "to-agent", keys: vector });
    const wire = Buffer.from(vector.wire_b64, "base64");
    expect(wire).toHaveLength(vector.wire_hex_len);
    const opened = v1.open(wire);
    expect(opened.message).toStrictEqual(JSON.parse(vector.plaintext_json!));
    expect(opened.replayKey).toBe(wire.subarray(wire.length - 64).toString("latin1"));
    const sealed = v1.seal(opened.message, { iv: Buffer.from(vector.iv_hex!, "hex") });
    expect(sealed.toString("base64")).toBe(vector.wire_b64);
  });

  it.each(negatives)("$name: rejected ($reason)", async (vector) => {
    const v1 = await createCodec({ protocol: 1, keyId: "server", direction: "to-agent", keys: vector });
    rejection(v1, Buffer.from(vector.wire_b64, "base64"));
  });

  it("a v2-shaped message goes out as v1 without id, sender, expires or to", () => {
    const limited = { ...ban, expires: 1_700_000_600, to: ["client1"] };
    const opened = codec("v1 client1").open(codec("v1 client1").seal(limited));
    expect(opened.message).toStrictEqual({
      cmd: "exec",
      file: ban.file,
      action: ban.action,
      params: ban.params,
      timestamp: ban.timestamp,
    });
    expect(Object.keys(opened.message)).not.toContain("id");
  });
});

describe("v2 vectors (test/vectors/v2.json, independent Python implementation)", () => {
  const positives = v2.filter((vector) => vector.expect === undefined);
  const negatives = v2.filter((vector) => vector.expect === "reject");
  it("vectors of every direction, and negatives for every check after the MAC", () => {
    expect(new Set(positives.map((vector) => vector.direction)).size).toBe(3);
    expect([...new Set(negatives.map((vector) => vector.code))].sort()).toEqual(
      ["bad-json", "bad-padding", "bad-utf8", "mac-mismatch", "schema", "wrong-command"]
        .concat(["wrong-direction", "wrong-key-id", "wrong-version"])
        .sort(),
    );
  });

  it.each(positives)("$name: opens to the plaintext and seals byte for byte", async (vector) => {
    const c = await createCodec({
      protocol: 2,
      keyId: vector.keyId,
      direction: vector.direction,
      keys: vector.keys,
    });
    const opened = c.open(Buffer.from(vector.wire_b64, "base64"));
    const plaintext = JSON.parse(vector.plaintext_json!) as Net2banMessage & { id: string };
    expect(opened.message).toStrictEqual(plaintext);
    expect(opened.replayKey).toBe(plaintext.id);
    expect(c.seal(opened.message, { iv: Buffer.from(vector.iv_hex!, "hex") }).toString("base64")).toBe(
      vector.wire_b64,
    );
  });

  it.each(negatives)("$name: rejected as $code ($reason)", async (vector) => {
    const c = await createCodec({
      protocol: 2,
      keyId: vector.keyId,
      direction: vector.direction,
      keys: vector.keys,
    });
    expect(rejection(c, Buffer.from(vector.wire_b64, "base64")).code).toBe(vector.code);
  });
});

describe("tampering", () => {
  const cases = [
    ["v1", "v1 to-server"],
    ["v2", "v2 to-server"],
  ] as const;

  it.each(cases)("%s: every bit of every byte flipped is rejected", (_version, name) => {
    const c = codec(name);
    const wire = c.seal(ban, { iv });
    expect(c.open(wire).message).toMatchObject({ cmd: "exec", params: ban.params, timestamp: ban.timestamp });
    let rejected = 0;
    for (let index = 0; index < wire.length; index++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = Buffer.from(wire);
        tampered[index]! ^= 1 << bit;
        rejection(c, tampered);
        rejected++;
      }
    }
    expect(rejected).toBe(wire.length * 8);
  });

  it.each(cases)("%s: every byte replaced by its complement is rejected", (_version, name) => {
    const c = codec(name);
    const wire = c.seal(ban, { iv });
    for (let index = 0; index < wire.length; index++) {
      const tampered = Buffer.from(wire);
      tampered[index] = 0xff - tampered[index]!;
      rejection(c, tampered);
    }
  });

  it.each(cases)("%s: truncation at every length is rejected", (_version, name) => {
    const c = codec(name);
    const wire = c.seal(ban, { iv });
    for (let length = 0; length < wire.length; length++) rejection(c, wire.subarray(0, length));
  });

  it.each(cases)("%s: extension by 1 to 64 bytes is rejected", (_version, name) => {
    const c = codec(name);
    const wire = c.seal(ban, { iv });
    for (let extra = 1; extra <= 64; extra++) {
      rejection(c, Buffer.concat([wire, Buffer.alloc(extra, extra)]));
      rejection(c, Buffer.concat([wire, wire.subarray(wire.length - extra)]));
    }
  });

  it("v1: a flip in the IV is caught by the MAC, not by the parser (CBC bit-flipping)", () => {
    const c = codec("v1 to-server");
    const wire = c.seal(ban, { iv });
    const tampered = Buffer.from(wire);
    tampered[2]! ^= 0x01;
    expect(rejection(c, tampered).code).toBe("mac-mismatch");
  });

  it("v1 weakness, documented: an authkey holder flips the IV, re-MACs, and the copy is accepted again", () => {
    const c = codec("v1 client1");
    const wire = c.seal(ban, { iv });
    const original = c.open(wire);
    // First block is '{"action": "acti'; byte 10 is the space after the colon: make it a tab.
    const forged = Buffer.from(wire.subarray(0, wire.length - 64));
    forged[10]! ^= 0x20 ^ 0x09;
    const mac = createHmac("sha256", client1.authkey).update(forged).digest("hex");
    const replayed = c.open(Buffer.concat([forged, Buffer.from(mac, "latin1")]));
    expect(replayed.message).toStrictEqual(original.message);
    expect(replayed.replayKey).not.toBe(original.replayKey);
  });

  it("v1: upper-case hex MAC is rejected (exact bytes, as the original compared)", () => {
    const c = codec("v1 to-server");
    const wire = c.seal(ban, { iv });
    const upper = Buffer.concat([
      wire.subarray(0, wire.length - 64),
      Buffer.from(
        wire
          .subarray(wire.length - 64)
          .toString("latin1")
          .toUpperCase(),
        "latin1",
      ),
    ]);
    expect(upper.equals(wire)).toBe(false);
    expect(rejection(c, upper).code).toBe("mac-mismatch");
  });

  it("v2: wrong version byte", () => {
    const wire = codec("v2 to-server").seal(ban, { iv });
    for (const version of [0, 1, 3, 0xff]) {
      const tampered = Buffer.from(wire);
      tampered[0] = version;
      expect(rejection(codec("v2 to-server"), tampered).code).toBe("wrong-version");
    }
  });
});

describe("recipient, direction and version confusion", () => {
  it("sealed for client1, opened by client2's codec", () => {
    expect(rejection(codec("v2 client2"), codec("v2 client1").seal(ban)).code).toBe("wrong-key-id");
  });

  it("sealed for client1, header rewritten to client2: the MAC catches it", () => {
    const wire = codec("v2 client1").seal(ban);
    // "client1" and "client2" have the same length, so only the last key id byte changes.
    const tampered = Buffer.from(wire);
    tampered[3 + "client".length] = "2".charCodeAt(0);
    expect(rejection(codec("v2 client2"), tampered).code).toBe("mac-mismatch");
  });

  it("a to-agent message opened as to-server", () => {
    expect(rejection(codec("v2 client1 as to-server"), codec("v2 client1").seal(ban)).code).toBe(
      "wrong-direction",
    );
  });

  it("same key id and key, other direction: different keys, so even a rewritten header fails", () => {
    const wire = codec("v2 client1").seal(ban);
    const tampered = Buffer.from(wire);
    tampered[1] = 1;
    expect(rejection(codec("v2 client1 as to-server"), tampered).code).toBe("mac-mismatch");
  });

  it("wrong keys: same key id, another key", async () => {
    const impostor = await createCodec({
      protocol: 2,
      keyId: "client1",
      direction: "to-agent",
      keys: client2,
    });
    expect(rejection(codec("v2 client1"), impostor.seal(ban)).code).toBe("mac-mismatch");
  });

  it("wrong keys: another authkey or secret", async () => {
    for (const keys of [
      { ...client1, authkey: "other" },
      { ...client1, secret: "other" },
      { ...client1, rounds: 51 },
    ]) {
      const other = await createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys });
      rejection(codec("v2 client1"), other.seal(ban));
    }
  });

  it("v1: client2's codec cannot read client1's message (the MAC passes: authkey is shared)", () => {
    const error = rejection(codec("v1 client2"), codec("v1 client1").seal(ban));
    expect(["bad-padding", "bad-utf8", "bad-json", "schema"]).toContain(error.code);
  });

  it("a v2 codec rejects every v1 wire and a v1 codec every v2 wire", () => {
    for (const vector of legacy) rejection(codec("v2 to-server"), Buffer.from(vector.wire_b64, "base64"));
    for (const vector of v2) rejection(codec("v1 to-server"), Buffer.from(vector.wire_b64, "base64"));
    rejection(codec("v2 to-server"), codec("v1 to-server").seal(ban));
    rejection(codec("v1 to-server"), codec("v2 to-server").seal(ban));
  });

  it("results travel from-agent only, and speak only for their own client", () => {
    const result = createResultMessage({
      requestId: ban.id,
      client: "client1",
      ok: true,
      exitCode: 0,
      durationMs: 3,
      sender: "client1.example.org",
    });
    const results = codec("v2 client1 results");
    expect(results.open(results.seal(result)).message).toStrictEqual(result);
    expect(() => codec("v2 client1").seal(result)).toThrow(/"message.cmd" "result" is not sent to-agent/);
    expect(() => results.seal(ban)).toThrow(/"message.cmd" "exec" is not sent from-agent; expected result/);
    expect(rejection(results, results.seal({ ...result, client: "client2" })).code).toBe("wrong-key-id");
    expect(() => codec("v1 client1").seal(result)).toThrow(TypeError);
  });
});

describe("properties (fast-check)", () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/);
  const execMessage = fc.record(
    {
      cmd: fc.constant("exec" as const),
      file: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,30}$/),
      action: name,
      params: fc.dictionary(
        fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,20}$/),
        fc.string({ unit: "binary" }),
        {
          maxKeys: 8,
          noNullPrototype: true,
        },
      ),
      timestamp: fc.double({ min: 0, max: 4e9, noNaN: true }),
      id: fc.uuid(),
      sender: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,30}$/),
      expires: fc.double({ min: 0, max: 4e9, noNaN: true }),
      to: fc.array(fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,20}$/), { minLength: 1, maxLength: 4 }),
    },
    { requiredKeys: ["cmd", "file", "action", "params", "timestamp", "id", "sender"], noNullPrototype: true },
  );
  const updateMessage = fc.record(
    {
      cmd: fc.constant("update" as const),
      file: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,30}$/),
      content: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("base64")),
      client: fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,20}$/),
      timestamp: fc.double({ min: 0, max: 4e9, noNaN: true }),
      id: fc.uuid(),
      sender: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,30}$/),
    },
    { noNullPrototype: true },
  );
  const message = fc.oneof(execMessage, updateMessage) as fc.Arbitrary<Net2banMessage>;

  it("v2: open(seal(m)) returns m", () => {
    const c = codec("v2 client1");
    fc.assert(
      fc.property(message, (m) => {
        expect(c.open(c.seal(m)).message).toStrictEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it("v1: open(seal(m)) returns m without the v2 fields", () => {
    const c = codec("v1 client1");
    fc.assert(
      fc.property(message, (m) => {
        const { id: _id, sender: _sender, expires: _expires, to: _to, ...legacyFields } = m as ExecMessage;
        expect(c.open(c.seal(m)).message).toStrictEqual(legacyFields);
      }),
      { numRuns: 300 },
    );
  });

  it.each(["v1 to-server", "v2 to-server", "v2 client1"])(
    "%s: random bytes are only ever 'message rejected'",
    (n) => {
      const c = codec(n);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
          rejection(c, bytes);
        }),
        { numRuns: 1000 },
      );
    },
  );

  it("v2: random bytes behind a valid header are only ever 'message rejected'", () => {
    const c = codec("v2 client1");
    const header = c.seal(ban).subarray(0, 3 + "client1".length);
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (blocks, tail) => {
          const body = Buffer.alloc(16 * blocks, blocks);
          rejection(c, Buffer.concat([header, body, tail]));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("arguments", () => {
  it("createCodec checks each option", async () => {
    const good: CodecOptions = { protocol: 2, keyId: "client1", direction: "to-agent", keys: client1 };
    await expect(createCodec({ ...good, protocol: 3 as 2 })).rejects.toThrow(
      /"protocol" expected one of 1, 2, got 3/,
    );
    await expect(createCodec({ ...good, keyId: "a/b" })).rejects.toThrow(/"keyId" expected a client name/);
    await expect(createCodec({ ...good, direction: "up" as Direction })).rejects.toThrow(/"direction"/);
    await expect(createCodec({ ...good, keys: { ...client1, rounds: 0 } })).rejects.toThrow(/"keys.rounds"/);
    await expect(createCodec({ ...good, cache: {} as KeyCache })).rejects.toThrow(
      /"cache" expected a KeyCache/,
    );
  });

  it("the codec takes whole config objects as keys (extra fields ignored)", async () => {
    const peer = { ...client1, name: "client1", queue: "net2ban_client1", protocol: 2 };
    const c = await createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys: peer });
    expect(codec("v2 client1").open(c.seal(ban)).message).toStrictEqual(ban);
  });

  it("seal: a bad message or IV is a precise TypeError / RangeError, not a rejection", () => {
    const c = codec("v2 client1");
    expect(() => c.seal({ ...ban, file: "../x" })).toThrow(/"message" file: expected a file base name/);
    expect(() => c.seal({ ...ban, id: undefined } as unknown as ExecMessage)).toThrow(/"message" id:/);
    expect(() => c.seal(ban, { iv: new Uint8Array(15) })).toThrow(/"opts.iv" expected 16 bytes, got 15/);
    expect(() => c.seal({ cmd: "shell" } as unknown as ExecMessage)).toThrow(
      /"message.cmd" "shell" is not sent/,
    );
    expect(() => codec("v1 client1").seal({ ...ban, params: { "1": "x" } })).toThrow(/"message" params.1:/);
    expect(() => c.open("not bytes" as unknown as Uint8Array)).toThrow(
      /"wire" expected a Uint8Array, got string/,
    );
  });

  it("seal uses randomBytes when given, and fresh IVs otherwise", async () => {
    const calls: number[] = [];
    const fixed = await createCodec({
      protocol: 2,
      keyId: "client1",
      direction: "to-agent",
      keys: client1,
      randomBytes: (size) => {
        calls.push(size);
        return Buffer.alloc(size, 7);
      },
    });
    expect(fixed.seal(ban).equals(fixed.seal(ban))).toBe(true);
    expect(calls).toEqual([16, 16]);
    const c = codec("v2 client1");
    const ivs = new Set<string>();
    for (let i = 0; i < 100; i++) ivs.add(c.seal(ban).subarray(10, 26).toString("hex"));
    expect(ivs.size).toBe(100);
  });
});

describe("@net2ban/protocol/testing: sealPlaintext", () => {
  it("seals what the schemas refuse, and the receiver still rejects it after the MAC", async () => {
    const { sealPlaintext } = await import("@net2ban/protocol/testing");
    for (const name of ["v2 client1", "v1 client1"]) {
      const c = codec(name);
      expect(c.open(sealPlaintext(c, JSON.stringify(ban))).message).toMatchObject({ params: ban.params });
      expect(rejection(c, sealPlaintext(c, JSON.stringify({ ...ban, file: "../evil" }))).code).toBe("schema");
      expect(rejection(c, sealPlaintext(c, "{not json")).code).toBe("bad-json");
      expect(rejection(c, sealPlaintext(c, new Uint8Array([0x22, 0xff, 0x22]))).code).toBe("bad-utf8");
    }
    const fixed = sealPlaintext(codec("v2 client1"), "{}", { iv });
    expect(fixed.subarray(10, 26)).toEqual(iv);
  });

  it("only codecs from createCodec", async () => {
    const { sealPlaintext } = await import("@net2ban/protocol/testing");
    const fake = {
      protocol: 2,
      keyId: "x",
      direction: "to-agent",
      seal: () => Buffer.alloc(0),
    } as unknown as Codec;
    expect(() => sealPlaintext(fake, "{}")).toThrow(/"codec" expected a codec from createCodec/);
  });
});

describe("stable sealing (stableFor)", () => {
  const other: ExecMessage = { ...ban, params: { ...ban.params, ip: "203.0.113.10" } };

  it("the same message and request seal to the same bytes, which open as usual; v1 and v2", () => {
    for (const name of ["v1 client1", "v2 client1"]) {
      const c = codec(name);
      const wire = c.seal(ban, { stableFor: "request-a" });
      expect(c.seal(ban, { stableFor: "request-a" }).equals(wire)).toBe(true);
      expect(c.open(wire).message).toMatchObject({ cmd: "exec", params: ban.params });
      expect(c.open(c.seal(ban, { stableFor: "request-a" })).replayKey).toBe(c.open(wire).replayKey);
    }
  });

  it("another request, message, recipient or direction gives another IV", () => {
    const ivOf = (wire: Buffer, name: string) =>
      name.startsWith("v1")
        ? wire.subarray(0, 16).toString("hex")
        : wire.subarray(3 + 7, 3 + 7 + 16).toString("hex");
    for (const [a, b] of [
      ["v1 client1", "v1 client2"],
      ["v2 client1", "v2 client2"],
    ] as const) {
      const ivs = new Set([
        ivOf(codec(a).seal(ban, { stableFor: "request-a" }), a),
        ivOf(codec(a).seal(ban, { stableFor: "request-b" }), a),
        ivOf(codec(a).seal(other, { stableFor: "request-a" }), a),
        ivOf(codec(b).seal(ban, { stableFor: "request-a" }), b),
        ivOf(codec(a).seal(ban), a),
      ]);
      expect(ivs.size).toBe(5);
    }
    // Any direction seals stably, results included.
    const result = createResultMessage({
      requestId: ban.id,
      client: "client1",
      ok: true,
      exitCode: 0,
      durationMs: 1,
      stderr: "",
      sender: "client1",
    });
    const up = codec("v2 client1 results").seal(result, { stableFor: "request-a" });
    expect(codec("v2 client1 results").seal(result, { stableFor: "request-a" }).equals(up)).toBe(true);
  });

  it("IVs are not predictable without the recipient's key: a keyed hash, not one of public data", () => {
    // Anyone holding the shared authkey (every v1 peer) computes this; it must not be the IV.
    const wire = codec("v1 client1").seal(ban, { stableFor: "request-a" });
    const guessed = createHmac("sha256", "shared authkey").update("request-a").digest().subarray(0, 16);
    expect(wire.subarray(0, 16).equals(guessed)).toBe(false);
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 64 }),
        (x, y) => {
          fc.pre(x !== y);
          const a = codec("v1 client1").seal(ban, { stableFor: x });
          const b = codec("v1 client1").seal(ban, { stableFor: y });
          expect(a.subarray(0, 16).equals(b.subarray(0, 16))).toBe(false);
        },
      ),
      { seed: 5151, numRuns: 200 },
    );
  });

  it("checks its argument", () => {
    const c = codec("v1 client1");
    expect(() => c.seal(ban, { stableFor: "" })).toThrow(
      /"opts.stableFor" expected 1 to 1024 characters, got 0/,
    );
    expect(() => c.seal(ban, { stableFor: "x".repeat(1025) })).toThrow(/"opts.stableFor"/);
    expect(() => c.seal(ban, { stableFor: 5 as unknown as string })).toThrow(/"opts.stableFor"/);
    expect(() => c.seal(ban, { stableFor: "a", iv })).toThrow(/iv or stableFor, not both/);
  });
});
