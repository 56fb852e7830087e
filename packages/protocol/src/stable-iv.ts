// Synthetic IVs: the IV of a message sealed "stably" is a keyed hash of what it is (its recipient, the
// identity of the request it carries, its plaintext), so sealing the same request for the same peer again
// gives the same bytes. A v1 agent knows a message only by its bytes (its MAC): a request the server has
// to forward again (its input was redelivered, or a publish was not confirmed) then reaches it as the copy
// it already ran, not as a new command.
//
// Why this keeps CBC as strong as random IVs (the construction is SIV's, RFC 5297, over CBC):
// - CBC needs IVs that an attacker cannot predict before choosing a plaintext, and that never repeat for
//   different plaintexts. This IV is HMAC-SHA256 under a key derived from the recipient's encryption key
//   (not from `authkey`, which every v1 peer holds), over the plaintext among the rest: without that key
//   it is indistinguishable from random, and two different plaintexts get independent IVs (a collision is
//   as likely as two random 128-bit IVs colliding).
// - What is deterministic is only the whole: the same plaintext for the same recipient and request gives
//   the same wire, which tells an observer that it is a copy. The broker knows that already (the copy
//   carries the same AMQP message-id), and it is the point.
// - The MAC still covers IV and ciphertext (encrypt-then-MAC) and is checked before decryption; a receiver
//   cannot tell how the IV was made, so Python v1 agents open these messages as any other.
import { createHmac, createSecretKey, type KeyObject } from "node:crypto";
import type { Direction } from "./keys.js";

const IV_KEY_LABEL = "net2ban stable iv\0";

/** The key of the synthetic IVs, derived from the envelope's encryption key (domain-separated). */
export function deriveStableIvKey(encryptionKey: KeyObject): KeyObject {
  const raw = encryptionKey.export();
  const derived = createHmac("sha256", raw).update(IV_KEY_LABEL, "ascii").digest();
  try {
    return createSecretKey(derived);
  } finally {
    raw.fill(0);
    derived.fill(0);
  }
}

function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** The 16-byte IV of `plaintext` for `keyId` and `direction` as part of the request `identity`. */
export function stableIv(
  ivKey: KeyObject,
  what: { direction: Direction; keyId: string; identity: string; plaintext: Uint8Array },
): Buffer {
  return createHmac("sha256", ivKey)
    .update(lengthPrefixed(what.direction))
    .update(lengthPrefixed(what.keyId))
    .update(lengthPrefixed(what.identity))
    .update(what.plaintext)
    .digest()
    .subarray(0, 16);
}
