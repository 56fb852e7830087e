// @net2ban/protocol: what a correlation tool needs to send net2ban requests: the codec, the request
// builders, the freshness guard, the error and the message types. No I/O. The messages between
// net2ban's own server and agents live in `@net2ban/protocol/fleet`, free to change between releases.

/** Builders of schema-valid v2 requests for the server's input queue. */
export {
  type BanRequestInput,
  createBanRequest,
  createExecBanRequest,
  createExecRequest,
  createExecUnbanRequest,
  createStatusRequest,
  createTrackedBanRequest,
  createTrackedUnbanRequest,
  createUnbanRequest,
  createUpdateRequest,
  type ExecRequestInput,
  type ReplyOptions,
  type RequestOptions,
  type StatusRequestInput,
  type TrackedBanInput,
  type TrackedUnbanInput,
  type UpdateRequestInput,
} from "./builders.js";
/** The codec: `createCodec({ protocol, keyId, direction, keys })` then `seal(message)` / `open(wire)`. */
export { type Codec, type CodecOptions, createCodec, type OpenedMessage, type SealOptions } from "./codec.js";
/** The one error every rejected message raises; its `message` is always "message rejected". */
export { MessageRejectedError, type RejectCode } from "./errors.js";
/** Replay and freshness check to run on every opened message. */
export { FreshnessGuard, type FreshnessGuardOptions } from "./freshness.js";
/** Key material, directions, and the derivation cache that codecs can share. */
export { type Direction, KeyCache, type KeyMaterial } from "./keys.js";
/** The requests' types, and the bounds every field is checked against. */
export {
  type BanMessage,
  type ExecMessage,
  type LegacyMessage,
  LIMITS,
  type Message,
  type Net2banMessage,
  type StatusMessage,
  type UnbanMessage,
  type UpdateMessage,
} from "./messages.js";
