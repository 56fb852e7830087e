// The primitives under both envelopes, checked against their standards' vectors the way our code calls them.
import { createCipheriv, createHmac, createSecretKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decryptCbc, sealV1 } from "./envelope-v1.js";
import { MessageRejectedError } from "./errors.js";
import { type EnvelopeKeys, pbkdf2Sha256 } from "./keys.js";

function vectors<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../test/vectors/${file}`, import.meta.url), "utf8")) as T;
}
const hex = (text: string) => Buffer.from(text, "hex");
const keysFor = (aesKey: Buffer): EnvelopeKeys => ({
  encryptionKey: createSecretKey(aesKey),
  macKey: createSecretKey(Buffer.from("unused mac key")),
});

describe("AES-256-CBC: NIST SP 800-38A F.2.5 / F.2.6", () => {
  const { vectors: cases } = vectors<{
    vectors: {
      name: string;
      operation: string;
      key: string;
      iv: string;
      plaintext: string;
      ciphertext: string;
    }[];
  }>("aes-256-cbc.json");
  it.each(cases)("$name", (vector) => {
    const key = createSecretKey(hex(vector.key));
    if (vector.operation === "encrypt") {
      const cipher = createCipheriv("aes-256-cbc", key, hex(vector.iv)).setAutoPadding(false);
      const out = Buffer.concat([cipher.update(hex(vector.plaintext)), cipher.final()]);
      expect(out.toString("hex")).toBe(vector.ciphertext);
    } else {
      // Our decryption with PKCS#7 on: append one block that decrypts to a full padding block.
      const ciphertext = hex(vector.ciphertext);
      const lastBlock = ciphertext.subarray(ciphertext.length - 16);
      const pad = createCipheriv("aes-256-cbc", key, lastBlock)
        .setAutoPadding(false)
        .update(Buffer.alloc(16, 16));
      const wire = Buffer.concat([hex(vector.iv), ciphertext, pad]);
      expect(decryptCbc(keysFor(hex(vector.key)), wire, 0, wire.length).toString("hex")).toBe(
        vector.plaintext,
      );
    }
  });
});

describe("HMAC-SHA256: RFC 4231", () => {
  const { vectors: cases } = vectors<{ vectors: { name: string; key: string; data: string; mac: string }[] }>(
    "hmac-sha256.json",
  );
  it.each(cases)("$name", (vector) => {
    const mac = createHmac("sha256", createSecretKey(hex(vector.key)))
      .update(hex(vector.data))
      .digest("hex");
    // Test case 5 gives only the first 128 bits.
    expect(mac.slice(0, vector.mac.length)).toBe(vector.mac);
    expect(vector.mac.length === 64 || vector.mac.length === 32).toBe(true);
  });
});

describe("PBKDF2-HMAC-SHA256: RFC 7914 section 11", () => {
  const { vectors: cases } = vectors<{
    vectors: { name: string; password: string; salt: string; rounds: number; dkLen: number; dk: string }[];
  }>("pbkdf2-hmac-sha256.json");
  it.each(cases)("$name", async (vector) => {
    const dk = await pbkdf2Sha256(
      Buffer.from(vector.password),
      Buffer.from(vector.salt),
      vector.rounds,
      vector.dkLen,
    );
    expect(dk.toString("hex")).toBe(vector.dk);
  });
});

describe("PKCS#7 padding: Wycheproof aes_cbc_pkcs5_test.json, 256-bit keys", () => {
  const { tests } = vectors<{
    tests: {
      tcId: number;
      comment: string;
      key: string;
      iv: string;
      msg: string;
      ct: string;
      result: string;
    }[];
  }>("wycheproof-aes-256-cbc-pkcs5.json");
  it("the set is the 256-bit group, with valid and invalid cases", () => {
    expect(tests).toHaveLength(72);
    expect(tests.filter((t) => t.result === "valid").length).toBeGreaterThan(10);
    expect(tests.filter((t) => t.result === "invalid").length).toBeGreaterThan(10);
  });
  it.each(tests)("tcId $tcId: $comment ($result)", (t) => {
    const keys = keysFor(hex(t.key));
    const wire = Buffer.concat([hex(t.iv), hex(t.ct)]);
    if (t.result === "valid") {
      expect(decryptCbc(keys, wire, 0, wire.length).toString("hex")).toBe(t.msg);
      const sealed = sealV1(keys, hex(t.msg), hex(t.iv));
      expect(sealed.subarray(16, sealed.length - 64).toString("hex")).toBe(t.ct);
    } else {
      expect(() => decryptCbc(keys, wire, 0, wire.length)).toThrow(MessageRejectedError);
    }
  });
});

describe("PKCS#7 padding: hand-written edges", () => {
  const key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const keys = keysFor(key);
  const iv = hex("0f0e0d0c0b0a09080706050403020100");
  /** Encrypts `blocks` as they are (no padding added), so the test controls the padding bytes. */
  const raw = (blocks: Buffer) => {
    const cipher = createCipheriv("aes-256-cbc", key, iv).setAutoPadding(false);
    return Buffer.concat([iv, cipher.update(blocks), cipher.final()]);
  };

  it.each([0, 1, 15, 16, 17, 31, 32])("%i bytes: padded to the next full block and back", (length) => {
    const plaintext = Buffer.alloc(length, 0x61);
    const wire = sealV1(keys, plaintext, iv);
    const ciphertextLength = wire.length - 16 - 64;
    expect(ciphertextLength).toBe((Math.floor(length / 16) + 1) * 16);
    expect(decryptCbc(keys, wire.subarray(0, wire.length - 64), 0, wire.length - 64)).toEqual(plaintext);
  });

  it.each([
    ["last byte 0", Buffer.concat([Buffer.alloc(15, 0x61), Buffer.from([0])])],
    ["last byte 17", Buffer.concat([Buffer.alloc(15, 0x61), Buffer.from([17])])],
    ["last byte 0xff", Buffer.concat([Buffer.alloc(15, 0x61), Buffer.from([0xff])])],
    ["padding 3 with one byte wrong", Buffer.concat([Buffer.alloc(13, 0x61), Buffer.from([3, 2, 3])])],
    ["padding 16 with the first byte wrong", Buffer.concat([Buffer.from([15]), Buffer.alloc(15, 16)])],
    ["ANSI X.923 (zeros then length)", Buffer.concat([Buffer.alloc(12, 0x61), Buffer.from([0, 0, 0, 4])])],
    ["ISO 7816-4 (0x80 then zeros)", Buffer.concat([Buffer.alloc(12, 0x61), Buffer.from([0x80, 0, 0, 0])])],
  ])("rejects %s", (_name, block) => {
    const wire = raw(block);
    expect(() => decryptCbc(keys, wire, 0, wire.length)).toThrow(MessageRejectedError);
    try {
      decryptCbc(keys, wire, 0, wire.length);
    } catch (error) {
      expect((error as MessageRejectedError).code).toBe("bad-padding");
      expect((error as Error).message).toBe("message rejected");
    }
  });
});
