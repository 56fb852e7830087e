// The legacy (v1) envelope, byte compatible with the Python original: IV ‖ AES-256-CBC ‖ hex HMAC-SHA256.
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { MessageRejectedError } from "./errors.js";
import type { EnvelopeKeys } from "./keys.js";

export const IV_BYTES = 16;
export const BLOCK_BYTES = 16;
/** The v1 MAC is written as 64 lowercase hex characters. */
export const V1_MAC_BYTES = 64;
/**
 * Largest plaintext either envelope carries. Every schema-valid message fits (see LIMITS), so this
 * only bounds the work a hostile wire can cause before the MAC check.
 */
export const MAX_PLAINTEXT_BYTES = 2 * 1024 * 1024;
const MIN_V1_WIRE = IV_BYTES + BLOCK_BYTES + V1_MAC_BYTES;
const MAX_V1_WIRE = IV_BYTES + MAX_PLAINTEXT_BYTES + BLOCK_BYTES + V1_MAC_BYTES;

/** Seals `plaintext` (the Python-2 JSON bytes) under `iv`. */
export function sealV1(keys: EnvelopeKeys, plaintext: Uint8Array, iv: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-cbc", keys.encryptionKey, iv);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const macAt = IV_BYTES + head.length + tail.length;
  const wire = Buffer.allocUnsafe(macAt + V1_MAC_BYTES);
  wire.set(iv, 0);
  wire.set(head, IV_BYTES);
  wire.set(tail, IV_BYTES + head.length);
  const mac = createHmac("sha256", keys.macKey).update(wire.subarray(0, macAt)).digest("hex");
  wire.write(mac, macAt, "latin1");
  return wire;
}

/** Opens a v1 wire: bounds, then the MAC in constant time, and only then decryption. */
export function openV1(keys: EnvelopeKeys, wire: Uint8Array): { plaintext: Buffer; macHex: string } {
  const length = wire.length;
  if (
    length < MIN_V1_WIRE ||
    length > MAX_V1_WIRE ||
    (length - IV_BYTES - V1_MAC_BYTES) % BLOCK_BYTES !== 0
  ) {
    throw new MessageRejectedError("bad-length", `${length} bytes`);
  }
  const macAt = length - V1_MAC_BYTES;
  const expected = Buffer.from(
    createHmac("sha256", keys.macKey).update(wire.subarray(0, macAt)).digest("hex"),
    "latin1",
  );
  if (!timingSafeEqual(expected, wire.subarray(macAt))) throw new MessageRejectedError("mac-mismatch");
  return { plaintext: decryptCbc(keys, wire, 0, macAt), macHex: expected.toString("latin1") };
}

/**
 * Decrypts the IV at `ivAt` and the ciphertext up to `end`, removing PKCS#7 padding (OpenSSL checks
 * every padding byte). Only ever called after the MAC matched.
 */
export function decryptCbc(keys: EnvelopeKeys, wire: Uint8Array, ivAt: number, end: number): Buffer {
  const decipher = createDecipheriv("aes-256-cbc", keys.encryptionKey, wire.subarray(ivAt, ivAt + IV_BYTES));
  try {
    const head = decipher.update(wire.subarray(ivAt + IV_BYTES, end));
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch (error) {
    throw new MessageRejectedError("bad-padding", undefined, { cause: error });
  }
}
