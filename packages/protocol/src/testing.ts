// Fault injection for tests of receivers: seal bytes that the schemas would refuse, under valid keys.
import { assertBytes, describe } from "./assert.js";
import { type Codec, sealPlaintextBytes } from "./codec.js";

/**
 * Seals `plaintext` (bytes, or a string sent as UTF-8) exactly as given, with no schema or direction
 * check: a hostile message from someone holding the keys, for testing that receivers still refuse it.
 * Only for codecs made by `createCodec`. Never use it to send real requests.
 *
 * @example
 * ```ts
 * const wire = sealPlaintext(codec, '{"cmd":"exec","file":"../../bin/sh"}');
 * expect(() => receiver.open(wire)).toThrow(MessageRejectedError);
 * ```
 */
export function sealPlaintext(
  codec: Codec,
  plaintext: Uint8Array | string,
  opts?: { iv?: Uint8Array },
): Buffer {
  const seal = (codec as Partial<Record<typeof sealPlaintextBytes, unknown>>)[sealPlaintextBytes];
  if (typeof seal !== "function")
    throw new TypeError(`"codec" expected a codec from createCodec, got ${describe(codec)}`);
  const bytes = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
  assertBytes(bytes, "plaintext");
  return (seal as (bytes: Uint8Array, iv: Uint8Array | undefined) => Buffer).call(codec, bytes, opts?.iv);
}
