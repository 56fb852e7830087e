// The v2 envelope: version ‖ header (direction, key id) ‖ IV ‖ AES-256-CBC ‖ HMAC-SHA256 over all of it.
import { createCipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { BLOCK_BYTES, decryptCbc, IV_BYTES, MAX_PLAINTEXT_BYTES } from "./envelope-v1.js";
import { MessageRejectedError } from "./errors.js";
import type { Direction, EnvelopeKeys } from "./keys.js";

export const V2_VERSION = 0x02;
export const V2_MAC_BYTES = 32;

/** Direction codes on the wire; 0 and anything above 4 are invalid. */
export const DIRECTION_CODES: Readonly<Record<Direction, number>> = {
  "to-server": 1,
  "to-agent": 2,
  "from-agent": 3,
  "from-server": 4,
};

/**
 * The key id a v2 wire names in its header (public data), or undefined when `wire` is not a v2 wire of
 * `direction`. A receiver that holds many peers' keys (the server reading agents' results) picks the
 * codec by it; the codec then checks everything, the key id included.
 *
 * @example
 * ```ts
 * const client = readV2KeyId(delivery.body, "from-agent"); // "web1", or undefined
 * const opened = client === undefined ? undefined : codecs.get(client)?.open(delivery.body);
 * ```
 */
export function readV2KeyId(wire: Uint8Array, direction: Direction): string | undefined {
  if (!(wire instanceof Uint8Array) || wire.length < 4) return undefined;
  if (wire[0] !== V2_VERSION || wire[1] !== DIRECTION_CODES[direction]) return undefined;
  const length = wire[2]!;
  if (length === 0 || wire.length < 3 + length) return undefined;
  const id = Buffer.from(wire.buffer, wire.byteOffset + 3, length);
  for (const byte of id) if (byte < 0x21 || byte > 0x7e) return undefined;
  return id.toString("ascii");
}

/** version(1) ‖ direction(1) ‖ key id length(1) ‖ key id (ASCII, 1..255 bytes). */
export function encodeV2Header(direction: Direction, keyId: string): Buffer {
  const id = Buffer.from(keyId, "utf8");
  if (id.length < 1 || id.length > 255)
    throw new RangeError(`"keyId" expected 1 to 255 bytes, got ${id.length}`);
  return Buffer.concat([Buffer.from([V2_VERSION, DIRECTION_CODES[direction], id.length]), id]);
}

/** Seals `plaintext` (standard JSON bytes) under `iv`; `header` comes from encodeV2Header. */
export function sealV2(keys: EnvelopeKeys, header: Buffer, plaintext: Uint8Array, iv: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-cbc", keys.encryptionKey, iv);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const ivAt = header.length;
  const ctAt = ivAt + IV_BYTES;
  const macAt = ctAt + head.length + tail.length;
  const wire = Buffer.allocUnsafe(macAt + V2_MAC_BYTES);
  header.copy(wire, 0);
  wire.set(iv, ivAt);
  wire.set(head, ctAt);
  wire.set(tail, ctAt + head.length);
  createHmac("sha256", keys.macKey).update(wire.subarray(0, macAt)).digest().copy(wire, macAt);
  return wire;
}

/**
 * Opens a v2 wire addressed to `header` (this codec's direction and key id): bounds and header first
 * (both public), then the MAC over everything before it, in constant time, and only then decryption.
 */
export function openV2(keys: EnvelopeKeys, header: Buffer, wire: Uint8Array): Buffer {
  const length = wire.length;
  const ivAt = header.length;
  const minimum = ivAt + IV_BYTES + BLOCK_BYTES + V2_MAC_BYTES;
  const maximum = ivAt + IV_BYTES + MAX_PLAINTEXT_BYTES + BLOCK_BYTES + V2_MAC_BYTES;
  if (length < 3) throw new MessageRejectedError("bad-length", `${length} bytes`);
  if (wire[0] !== V2_VERSION) throw new MessageRejectedError("wrong-version", `version byte ${wire[0]}`);
  if (wire[1] !== header[1]) throw new MessageRejectedError("wrong-direction", `direction byte ${wire[1]}`);
  if (wire[2] !== header[2] || length < ivAt || !header.subarray(3).equals(wire.subarray(3, ivAt))) {
    throw new MessageRejectedError("wrong-key-id");
  }
  if (length < minimum || length > maximum || (length - minimum) % BLOCK_BYTES !== 0) {
    throw new MessageRejectedError("bad-length", `${length} bytes`);
  }
  const macAt = length - V2_MAC_BYTES;
  const expected = createHmac("sha256", keys.macKey).update(wire.subarray(0, macAt)).digest();
  if (!timingSafeEqual(expected, wire.subarray(macAt))) throw new MessageRejectedError("mac-mismatch");
  return decryptCbc(keys, wire, ivAt, macAt);
}
