// @net2ban/protocol/fleet: the messages between net2ban's own server, agents and net2banctl (apply,
// sync, digest, result, accepted, state), their schemas, and the v2 key-id reader. net2ban's packages
// move together, so this subpath may change in any release; third parties use the root export.

/** Builders of what agents send back to the server. */
export { createDigestMessage, createResultMessage, type DigestInput, type ResultInput } from "./builders.js";
/** The key id in a v2 wire's header, to pick the codec of a peer before opening (servers). */
export { readV2KeyId } from "./envelope-v2.js";
/** Every message schema (zod 4), their types, and `parseMessage` for already-decoded JSON. */
export {
  type AcceptedMessage,
  type ApplyMessage,
  acceptedMessageSchema,
  applyMessageSchema,
  banMessageSchema,
  type DigestMessage,
  digestMessageSchema,
  execMessageSchema,
  type HeldBan,
  type HostState,
  type LegacyExecMessage,
  type LegacyUpdateMessage,
  legacyExecMessageSchema,
  legacyMessageSchema,
  legacyUpdateMessageSchema,
  messageSchema,
  parseMessage,
  type ResultMessage,
  resultMessageSchema,
  type StateMessage,
  type SyncMessage,
  stateMessageSchema,
  statusMessageSchema,
  syncMessageSchema,
  unbanMessageSchema,
  updateMessageSchema,
} from "./messages.js";
