// Key derivation: the legacy session key, v2 keys against an independent implementation, and the cache.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type Direction,
  deriveLegacyKeys,
  deriveLegacySessionKey,
  deriveV2Keys,
  type EnvelopeKeys,
  KeyCache,
  type KeyMaterial,
  lookupKeys,
} from "./keys.js";

function vectors<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../test/vectors/${file}`, import.meta.url), "utf8")) as T;
}
const legacy = vectors<{ vectors: (KeyMaterial & { name: string; derived_key: string })[] }>(
  "legacy-v1.json",
);
const v2 = vectors<{
  vectors: {
    name: string;
    keys: KeyMaterial;
    keyId: string;
    direction: Direction;
    enc_key_hex?: string;
    mac_key_hex?: string;
  }[];
}>("v2.json");

const material: KeyMaterial = {
  key: "client key",
  secret: "shared secret",
  rounds: 10,
  authkey: "shared authkey",
};
const exported = (keys: EnvelopeKeys) => ({
  enc: keys.encryptionKey.export().toString("hex"),
  mac: keys.macKey.export().toString("hex"),
});

describe("v1 session key", () => {
  it.each(legacy.vectors)("$name: derived_key", async (vector) => {
    const key = await deriveLegacySessionKey(vector);
    expect(key.toString("latin1")).toBe(vector.derived_key);
    expect(key).toHaveLength(32);
  });
  it("v1 MAC key is the authkey's UTF-8 bytes, not hex-decoded", async () => {
    const keys = await deriveLegacyKeys({ ...material, authkey: "0123456789abcdef" });
    expect(keys.macKey.export().toString("utf8")).toBe("0123456789abcdef");
  });
});

describe("v2 keys", () => {
  const positives = v2.vectors.filter((vector) => vector.enc_key_hex !== undefined);
  it.each(positives)("$name: same keys as the Python reference (test/generate/v2.py)", async (vector) => {
    const keys = exported(await deriveV2Keys(vector.keys, vector.keyId, vector.direction));
    expect(keys).toEqual({ enc: vector.enc_key_hex, mac: vector.mac_key_hex });
  });

  it("every input changes both keys, and the two keys differ", async () => {
    const base = exported(await deriveV2Keys(material, "client1", "to-agent"));
    expect(base.enc).not.toBe(base.mac);
    const variants = await Promise.all([
      deriveV2Keys({ ...material, key: "other key" }, "client1", "to-agent"),
      deriveV2Keys({ ...material, secret: "other secret" }, "client1", "to-agent"),
      deriveV2Keys({ ...material, rounds: 11 }, "client1", "to-agent"),
      deriveV2Keys({ ...material, authkey: "other authkey" }, "client1", "to-agent"),
      deriveV2Keys(material, "client2", "to-agent"),
      deriveV2Keys(material, "client1", "from-agent"),
    ]);
    for (const variant of variants.map(exported)) {
      expect(variant.enc).not.toBe(base.enc);
      expect(variant.mac).not.toBe(base.mac);
    }
  });

  it("v2 keys are not the v1 session key", async () => {
    const v1 = await deriveLegacySessionKey(material);
    const keys = exported(await deriveV2Keys(material, "server", "to-server"));
    expect(keys.enc).not.toBe(v1.toString("hex"));
  });
});

describe("argument checks name the argument and never echo a secret", () => {
  it.each([
    [
      { ...material, rounds: 0 },
      RangeError,
      '"material.rounds" expected an integer from 1 to 10000000, got 0',
    ],
    [{ ...material, rounds: 1.5 }, RangeError, '"material.rounds" expected an integer'],
    [{ ...material, rounds: "12000" }, TypeError, '"material.rounds" expected an integer, got string'],
    [{ ...material, key: "" }, TypeError, '"material.key" expected a non-empty string'],
    [{ ...material, secret: 42 }, TypeError, '"material.secret" expected a string, got number'],
    [
      { ...material, authkey: "x".repeat(4097) },
      RangeError,
      '"material.authkey" expected at most 4096 characters',
    ],
    [null, TypeError, '"material" expected an object, got null'],
  ])("%o", async (bad, type, message) => {
    const attempt = deriveLegacySessionKey(bad as KeyMaterial);
    await expect(attempt).rejects.toThrow(type);
    await expect(attempt).rejects.toThrow(message);
  });

  it("the error does not contain the secret", async () => {
    const attempt = deriveV2Keys({ ...material, secret: "TOPSECRET", rounds: -1 }, "client1", "to-agent");
    await expect(attempt).rejects.toThrow(RangeError);
    await attempt.catch((error: Error) => expect(error.message).not.toContain("TOPSECRET"));
  });

  it.each([
    ["", "keyId"],
    [".hidden", "keyId"],
    ["a b", "keyId"],
    ["x".repeat(129), "keyId"],
  ])("key id %j refused", async (keyId) => {
    await expect(deriveV2Keys(material, keyId, "to-agent")).rejects.toThrow(/"keyId" expected a client name/);
  });

  it("direction must be one of the three", async () => {
    await expect(deriveV2Keys(material, "client1", "sideways" as Direction)).rejects.toThrow(
      /"direction" expected one of "to-server", "to-agent", "from-agent"/,
    );
  });
});

describe("KeyCache", () => {
  const spec = { protocol: 2 as const, material, keyId: "client1", direction: "to-agent" as const };

  it("concurrent requests for one entry share one derivation", async () => {
    const cache = new KeyCache();
    const first = cache[lookupKeys](spec);
    const second = cache[lookupKeys]({ ...spec, material: { ...material } });
    expect(second).toBe(first);
    expect(cache.size).toBe(1);
    expect(await first).toBe(await second);
  });

  it("each part of the tuple makes its own entry", async () => {
    const cache = new KeyCache();
    await Promise.all([
      cache[lookupKeys](spec),
      cache[lookupKeys]({ ...spec, keyId: "client2" }),
      cache[lookupKeys]({ ...spec, direction: "from-agent" }),
      cache[lookupKeys]({ ...spec, material: { ...material, rounds: 11 } }),
      cache[lookupKeys]({ ...spec, material: { ...material, authkey: "b" } }),
      cache[lookupKeys]({ ...spec, material: { ...material, secret: "b" } }),
      cache[lookupKeys]({ ...spec, material: { ...material, key: "b" } }),
      cache[lookupKeys]({ ...spec, protocol: 1 }),
    ]);
    expect(cache.size).toBe(8);
  });

  it("v1 keys do not depend on key id or direction, so one entry serves all", async () => {
    const cache = new KeyCache();
    const a = await cache[lookupKeys]({ ...spec, protocol: 1 });
    const b = await cache[lookupKeys]({ ...spec, protocol: 1, keyId: "server", direction: "to-server" });
    expect(b).toBe(a);
    expect(cache.size).toBe(1);
  });

  it("fields are length-prefixed: shifting characters between fields is another entry", async () => {
    const cache = new KeyCache();
    const a = await cache[lookupKeys]({ ...spec, material: { ...material, key: "ab", secret: "c" } });
    const b = await cache[lookupKeys]({ ...spec, material: { ...material, key: "a", secret: "bc" } });
    expect(b).not.toBe(a);
  });

  it("a failed derivation is not cached", async () => {
    const cache = new KeyCache();
    await expect(cache[lookupKeys]({ ...spec, material: { ...material, rounds: 0 } })).rejects.toThrow(
      RangeError,
    );
    await Promise.resolve();
    expect(cache.size).toBe(0);
  });

  it("clear() forgets every entry", async () => {
    const cache = new KeyCache();
    const before = await cache[lookupKeys](spec);
    cache.clear();
    expect(cache.size).toBe(0);
    const after = await cache[lookupKeys](spec);
    expect(after).not.toBe(before);
    expect(exported(after)).toEqual(exported(before));
  });
});
