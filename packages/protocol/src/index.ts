// @net2ban/protocol: net2ban's message schemas, envelopes (legacy v1, v2) and key derivation; no I/O.

/** Builders that produce schema-valid v2 requests (and results) for third-party tools. */
export {
  type BanRequestInput,
  createBanRequest,
  createDigestMessage,
  createExecRequest,
  createResultMessage,
  createStatusRequest,
  createTrackedBanRequest,
  createTrackedUnbanRequest,
  createUnbanRequest,
  createUpdateRequest,
  type DigestInput,
  type ExecRequestInput,
  type ReplyOptions,
  type RequestOptions,
  type ResultInput,
  type StatusRequestInput,
  type TrackedBanInput,
  type TrackedUnbanInput,
  type UpdateRequestInput,
} from "./builders.js";
/** The codec: `createCodec({ protocol, keyId, direction, keys })` then `seal(message)` / `open(wire)`. */
export { type Codec, type CodecOptions, createCodec, type OpenedMessage, type SealOptions } from "./codec.js";
/** The key id in a v2 wire's header, to pick the codec of a peer before opening (servers). */
export { readV2KeyId } from "./envelope-v2.js";
/** The one error every rejected message raises; its `message` is always "message rejected". */
export { MessageRejectedError, type RejectCode } from "./errors.js";
/** Replay and freshness check to run on every opened message. */
export { FreshnessGuard, type FreshnessGuardOptions } from "./freshness.js";
/** Key material, directions, and the derivation cache a server shares between codecs. */
export { type Direction, KeyCache, type KeyMaterial } from "./keys.js";
/** Message schemas (zod 4), their types, their bounds, and `parseMessage` for already-decoded JSON. */
export {
  type AcceptedMessage,
  type ApplyMessage,
  acceptedMessageSchema,
  applyMessageSchema,
  type BanMessage,
  banMessageSchema,
  type DigestMessage,
  digestMessageSchema,
  type ExecMessage,
  execMessageSchema,
  type HeldBan,
  type HostState,
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
  type StateMessage,
  type StatusMessage,
  type SyncMessage,
  stateMessageSchema,
  statusMessageSchema,
  syncMessageSchema,
  type UnbanMessage,
  type UpdateMessage,
  unbanMessageSchema,
  updateMessageSchema,
} from "./messages.js";
