// @net2ban/protocol: net2ban's message schemas, envelopes (legacy v1, v2) and key derivation; no I/O.

/** Builders that produce schema-valid v2 requests (and results) for third-party tools. */
export {
  type BanRequestInput,
  createBanRequest,
  createExecRequest,
  createResultMessage,
  createUnbanRequest,
  createUpdateRequest,
  type ExecRequestInput,
  type RequestOptions,
  type ResultInput,
  type UpdateRequestInput,
} from "./builders.js";
/** The codec: `createCodec({ protocol, keyId, direction, keys })` then `seal(message)` / `open(wire)`. */
export { type Codec, type CodecOptions, createCodec, type OpenedMessage } from "./codec.js";
/** The one error every rejected message raises; its `message` is always "message rejected". */
export { MessageRejectedError, type RejectCode } from "./errors.js";
/** Replay and freshness check to run on every opened message. */
export { FreshnessGuard, type FreshnessGuardOptions } from "./freshness.js";
/** Key material, directions, and the derivation cache a server shares between codecs. */
export { type Direction, KeyCache, type KeyMaterial } from "./keys.js";
/** Message schemas (zod 4), their types, their bounds, and `parseMessage` for already-decoded JSON. */
export {
  type ExecMessage,
  execMessageSchema,
  type LegacyExecMessage,
  type LegacyMessage,
  type LegacyUpdateMessage,
  LIMITS,
  legacyExecMessageSchema,
  legacyMessageSchema,
  legacyUpdateMessageSchema,
  type Message,
  messageSchema,
  type Net2banMessage,
  parseMessage,
  type ResultMessage,
  resultMessageSchema,
  type UpdateMessage,
  updateMessageSchema,
} from "./messages.js";
