// The messages net2ban carries, as zod schemas: the single source of their types and of every bound.
import { z } from "zod";
import { MessageRejectedError } from "./errors.js";

/**
 * Bounds on every field. Any message that passes the schemas fits in `MAX_PLAINTEXT_BYTES` in both
 * plaintext formats (even with every character escaped as `\uXXXX`), so an envelope never has to refuse
 * a valid message for its size.
 */
export const LIMITS = {
  fileName: 64,
  action: 64,
  paramCount: 64,
  paramName: 64,
  paramValue: 4096,
  /** Base64 characters of an update's `content` (1 MiB). */
  content: 1024 * 1024,
  clientName: 128,
  messageId: 128,
  sender: 255,
  /** Client names in a `to` list. */
  recipients: 1024,
  /** Characters of a result's `stderr` (2 KiB). */
  stderr: 2048,
  /** Characters of a jail name (`name`) in ban state messages. */
  jailName: 128,
  /** Characters of an address or CIDR block. */
  ip: 64,
  /** Hosts named in one `accepted` reply. */
  hosts: 10_000,
  /** Bans in one `sync` or `state` message (the sender splits larger sets). */
  bansPerMessage: 4096,
  /**
   * Bytes of a `sync` or `state` message as standard JSON: these carry sets of bans, so their bound is
   * on the whole message (the server splits a set into messages below it), not on each field.
   */
  setMessageBytes: 1536 * 1024,
  /** Characters of a short human-readable note (`detail`, `refused`). */
  note: 512,
} as const;

// Each string bound is written into its pattern: one regex per field keeps validation under a
// microsecond per message (zod's separate max()/regex() checks and z.record cost ~4 µs, a fifth of a
// whole seal + open).

/** Action file base name: no path, no `..`, not hidden, not an option (`-x`). */
const FILE_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]|\.(?!\.)){0,63}$/;
/** A fail2ban action of the file: actionban, actionunban, actionstart, ... */
const ACTION = /^[a-z][a-z0-9_]{0,63}$/;
/** A fail2ban tag name as it appears in `<name>` in an action file. */
const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
/** A client (agent) name, also its key id on the v2 wire and part of its queue name. */
export const CLIENT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$/;
/** Message ids: UUIDs in practice; 8+ characters so that counters and typos do not collide. */
const MESSAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;
/** A queue name net2banctl waits on for replies: letters, digits and . _ - :, not RabbitMQ's amq. names. */
const REPLY_QUEUE = /^(?!amq\.)[A-Za-z0-9_][A-Za-z0-9_.:-]{0,254}$/;
/** An address or CIDR block as characters; receivers parse it exactly before acting on it. */
const IP_TEXT = /^[0-9A-Fa-f:.]{2,60}(?:\/[0-9]{1,3})?$/;
/** A jail name: no control characters (it appears in logs and in `<name>`, where actions quote it). */
const JAIL_NAME = /^[^\u0000-\u001f\u007f]{1,128}$/;
/** sha256 hex. */
const HASH = /^[0-9a-f]{64}$/;
/** A host or tool name, for logs. */
const SENDER = /^[A-Za-z0-9][A-Za-z0-9._@:+/-]{0,254}$/;
/** Standard base64 with padding (what Python's base64.b64encode writes); length checked separately. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const fileName = z.string().regex(FILE_NAME, "expected a file base name: 1-64 of A-Z a-z 0-9 _ - ., no ..");
const action = z.string().regex(ACTION, "expected an action name like actionban (a-z 0-9 _, at most 64)");
/** Seconds since the epoch, as Python's time.time() (a float). */
const timestamp = z.number().nonnegative();
const clientName = z
  .string()
  .regex(CLIENT_NAME, "expected a client name: 1-128 of A-Z a-z 0-9 _ . @ + -, starting with A-Z a-z 0-9 _");
const content = z
  .string()
  .max(LIMITS.content)
  .regex(BASE64, "expected base64")
  .refine((value) => value.length % 4 === 0, { message: "expected padded base64" });
const messageId = z.string().regex(MESSAGE_ID, "expected a message id: 8-128 of A-Z a-z 0-9 . _ : -");
const sender = z.string().regex(SENDER, "expected a host or tool name: 1-255 of A-Z a-z 0-9 . _ @ : + / -");

const replyTo = z.string().regex(REPLY_QUEUE, "expected a queue name (not amq.*)");
const ipText = z.string().regex(IP_TEXT, "expected an IPv4/IPv6 address or CIDR block");
const jailName = z.string().regex(JAIL_NAME, "expected a jail name: 1-128 characters, no control characters");
const note = z.string().max(LIMITS.note);
/** Seconds a ban lasts; null: no end. Bounded so that epoch arithmetic stays exact. */
const duration = z
  .number()
  .positive()
  .max(100 * 365 * 86_400);
/** When a ban ends (seconds since the epoch); null: no end. */
const expiresAt = timestamp.nullable();
const count = z.int().nonnegative();

/** `<tag>` values for the action: a plain object of at most 64 names, each value a string of at most 4096. */
const params = z.unknown().transform((value, ctx): Record<string, string> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: "custom", message: "expected an object of strings" });
    return z.NEVER;
  }
  const copy: Record<string, string> = {};
  let count = 0;
  for (const name of Object.keys(value)) {
    if (++count > LIMITS.paramCount) {
      ctx.addIssue({ code: "custom", message: `expected at most ${LIMITS.paramCount} parameters` });
      return z.NEVER;
    }
    const item = (value as Record<string, unknown>)[name];
    let problem: string | undefined;
    if (!PARAM_NAME.test(name))
      problem = "expected a parameter name like ip: 1-64 of A-Z a-z 0-9 _ . -, starting with a letter";
    else if (typeof item !== "string")
      problem = `expected a string, got ${item === null ? "null" : typeof item}`;
    else if (item.length > LIMITS.paramValue) problem = `expected at most ${LIMITS.paramValue} characters`;
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", message: problem, path: [name] });
      return z.NEVER;
    }
    copy[name] = item as string;
  }
  return copy;
});

/** v1 (legacy) `exec`: run `action` of action file `file` with `params`, as the Python original sends it. */
export const legacyExecMessageSchema = z.object({
  cmd: z.literal("exec"),
  file: fileName,
  action,
  params,
  timestamp,
});

/** v1 (legacy) `update`: replace action file `file` on `client` with `content` (base64). */
export const legacyUpdateMessageSchema = z.object({
  cmd: z.literal("update"),
  file: fileName,
  content,
  client: clientName,
  timestamp,
});

/** Any v1 message; unknown `cmd` is rejected. */
export const legacyMessageSchema = z.discriminatedUnion("cmd", [
  legacyExecMessageSchema,
  legacyUpdateMessageSchema,
]);

/** Fields every v2 request carries on top of the legacy ones. */
const requestFields = {
  /** Unique per message (a UUID): the replay key. */
  id: messageId,
  /** Host or tool that made the request, for logs. */
  sender,
  /** Seconds since the epoch after which the message must not run. */
  expires: timestamp.optional(),
  /** Clients the request is limited to; absent means every client. */
  to: z.array(clientName).min(1).max(LIMITS.recipients).optional(),
};

/** Where net2banctl `--wait` (or `status`) listens: the server sends each host's result there. */
const replyFields = { replyTo: replyTo.optional() };

/** v2 `exec`: the legacy exec plus id, sender, and optional expires / to / replyTo. */
export const execMessageSchema = legacyExecMessageSchema.extend({ ...requestFields, ...replyFields });

/** v2 `update`: the legacy update plus id, sender, and optional expires / to. */
export const updateMessageSchema = legacyUpdateMessageSchema.extend(requestFields);

/** v2 `result` (agent -> server): how the command `requestId` went on `client`. */
export const resultMessageSchema = z.object({
  cmd: z.literal("result"),
  /** This result's own id. */
  id: messageId,
  sender,
  timestamp,
  /** The `id` of the request this result answers. */
  requestId: messageId,
  client: clientName,
  ok: z.boolean(),
  /** null when the command did not exit by itself (killed, timed out, not started). */
  exitCode: z.int().nullable(),
  durationMs: z.number().nonnegative(),
  /** The end of the command's stderr, at most 2048 characters. */
  stderr: z.string().max(LIMITS.stderr),
  /** Ban state: what the agent did (see docs/protocol.md, "Ban state"). */
  op: z.enum(["exec", "update", "ban", "extend", "unban", "skip", "expire", "sync"]).optional(),
  /** Ban state: the ban the result is about. */
  file: fileName.optional(),
  name: jailName.optional(),
  ip: ipText.optional(),
  /** Seconds from the request's timestamp until the action was done on this host. */
  latencySeconds: z.number().nonnegative().optional(),
  detail: note.optional(),
});

/** A ban as ban state messages carry it: action file, jail name, address. */
const banIdentity = { file: fileName, name: jailName, ip: ipText };

/**
 * v2 `ban` (to the server): ban `ip` with action file `file` for jail `name` on every (or `to`) host and
 * keep it in the server's ledger until it expires. A ban already active for the same (file, name, ip)
 * is extended instead of run again.
 */
export const banMessageSchema = z.object({
  cmd: z.literal("ban"),
  ...banIdentity,
  /** Further `<tags>` for the action (not ip nor name). */
  params,
  /** Seconds from `timestamp`; null: no end; absent: the server's `bantime`. */
  duration: duration.nullable().optional(),
  timestamp,
  ...requestFields,
  ...replyFields,
});

/**
 * v2 `unban` (to the server): remove the ledger's bans of `ip` (only those of `file` / `name` when given)
 * and lift them on every host that applied them.
 */
export const unbanMessageSchema = z.object({
  cmd: z.literal("unban"),
  ip: ipText,
  file: fileName.optional(),
  name: jailName.optional(),
  /**
   * Only this holder's hold ("server" or a publisher's name), the ban staying while others hold it. The
   * server takes it from the operator's [server] key only; a publisher always releases its own hold.
   */
  holder: clientName.optional(),
  timestamp,
  ...requestFields,
  ...replyFields,
});

/** v2 `status` (to the server): send the active bans (of `ip`) with each host's state to `replyTo`. */
export const statusMessageSchema = z.object({
  cmd: z.literal("status"),
  ip: ipText.optional(),
  timestamp,
  id: messageId,
  sender,
  replyTo,
});

/** One ban the agent is to hold: its identity, `<tags>` and end. */
const heldBan = z.object({ ...banIdentity, params, expiresAt });

/**
 * v2 `apply` (server -> agent): `op` ban (apply, or only extend when already applied here) or unban
 * (lift it if applied here, else nothing) of one ban of the ledger.
 */
export const applyMessageSchema = z.object({
  cmd: z.literal("apply"),
  op: z.enum(["ban", "unban"]),
  ...banIdentity,
  params,
  /** ban: when it ends (null: no end); agents lift it then by themselves. */
  expiresAt: expiresAt.optional(),
  /** The timestamp of the request this comes from, for end-to-end latency. */
  requestedAt: timestamp.optional(),
  timestamp,
  id: messageId,
  sender,
});

/** Checks the whole-message bound of the messages that carry sets of bans. */
function withinSetBound(message: unknown): boolean {
  return Buffer.byteLength(JSON.stringify(message), "utf8") <= LIMITS.setMessageBytes;
}
const setBound = { message: `expected at most ${LIMITS.setMessageBytes} bytes as JSON (split the set)` };

/**
 * v2 `sync` (server -> agent): part `seq` of the full set of bans this agent must hold now. Agents apply
 * the missing ones as parts arrive, and on the `last` part lift what they hold that the set lacks.
 */
export const syncMessageSchema = z
  .object({
    cmd: z.literal("sync"),
    /** Same for every part of one set. */
    syncId: messageId,
    seq: count,
    last: z.boolean(),
    bans: z.array(heldBan).max(LIMITS.bansPerMessage),
    timestamp,
    id: messageId,
    sender,
  })
  .refine(withinSetBound, setBound);

/**
 * v2 `digest` (agent -> server): how many bans the agent holds and a hash of their sorted keys; the
 * server compares it with what its ledger says the agent should hold and sends a `sync` if they differ.
 */
export const digestMessageSchema = z.object({
  cmd: z.literal("digest"),
  client: clientName,
  /** start and reconnect ask for catch-up; interval is the periodic drift check; sync follows a sync. */
  reason: z.enum(["start", "reconnect", "interval", "sync"]),
  count,
  hash: z.string().regex(HASH, "expected sha256 hex"),
  /** Bans found missing on the host by the last probe (they were dropped from `count`). */
  missing: count.optional(),
  timestamp,
  id: messageId,
  sender,
});

/**
 * v2 `accepted` (server -> net2banctl): the request `requestId` went to `hosts` (their results follow),
 * or was refused (`refused`, no hosts).
 */
export const acceptedMessageSchema = z.object({
  cmd: z.literal("accepted"),
  requestId: messageId,
  hosts: z.array(clientName).max(LIMITS.hosts),
  /** ban: new, extended (already active: no action runs again), unchanged (already lasts longer); unban: removed or none. */
  change: z.enum(["new", "extended", "unchanged", "removed", "none", "exec"]).optional(),
  expiresAt: expiresAt.optional(),
  refused: note.optional(),
  timestamp,
  id: messageId,
  sender,
});

/** A host's state of one ban in `state`. */
const hostState = z.object({
  state: z.enum(["pending", "applied", "failed"]),
  /** When the state was last set (seconds since the epoch). */
  at: timestamp,
  exitCode: z.int().nullable().optional(),
  detail: note.optional(),
});

/** v2 `state` (server -> net2banctl): part `seq` of the active bans, answering `status` `requestId`. */
export const stateMessageSchema = z
  .object({
    cmd: z.literal("state"),
    requestId: messageId,
    seq: count,
    last: z.boolean(),
    bans: z
      .array(
        z.object({
          ...banIdentity,
          expiresAt,
          createdAt: timestamp,
          updatedAt: timestamp,
          /** Whose key sealed the request that made or last extended it: "server" or a publisher. */
          publisher: clientName.optional(),
          /** Who holds it, each with its own end (null: none): it lasts until the last hold ends. */
          holders: z.record(clientName, expiresAt).optional(),
          hosts: z.record(clientName, hostState),
        }),
      )
      .max(LIMITS.bansPerMessage),
    timestamp,
    id: messageId,
    sender,
  })
  .refine(withinSetBound, setBound);

/**
 * Any v2 message. Objects strip unknown keys rather than reject them, so a newer sender can add an
 * optional field without breaking older receivers; a new command is one more member of this union, and
 * unknown commands are rejected. Which direction carries which command is the codec's rule.
 */
export const messageSchema = z.discriminatedUnion("cmd", [
  execMessageSchema,
  updateMessageSchema,
  resultMessageSchema,
  banMessageSchema,
  unbanMessageSchema,
  statusMessageSchema,
  applyMessageSchema,
  syncMessageSchema,
  digestMessageSchema,
  acceptedMessageSchema,
  stateMessageSchema,
]);

/** A v1 exec as the Python original sends it. */
export type LegacyExecMessage = z.infer<typeof legacyExecMessageSchema>;
/** A v1 update as the Python original sends it. */
export type LegacyUpdateMessage = z.infer<typeof legacyUpdateMessageSchema>;
/** Any v1 message. */
export type LegacyMessage = z.infer<typeof legacyMessageSchema>;
/** A v2 exec request: run an action of an action file on every (or `to`) client. */
export type ExecMessage = z.infer<typeof execMessageSchema>;
/** A v2 update request: replace an action file on one client. */
export type UpdateMessage = z.infer<typeof updateMessageSchema>;
/** A v2 result: how a command went on one client. */
export type ResultMessage = z.infer<typeof resultMessageSchema>;
/** A v2 ban request: ban and keep in the ledger until it expires. */
export type BanMessage = z.infer<typeof banMessageSchema>;
/** A v2 unban request: remove from the ledger and from every host. */
export type UnbanMessage = z.infer<typeof unbanMessageSchema>;
/** A v2 status request. */
export type StatusMessage = z.infer<typeof statusMessageSchema>;
/** A v2 apply command: one ban or unban of the ledger on one agent. */
export type ApplyMessage = z.infer<typeof applyMessageSchema>;
/** A v2 sync command: (part of) the set of bans an agent must hold. */
export type SyncMessage = z.infer<typeof syncMessageSchema>;
/** One ban of a sync. */
export type HeldBan = z.infer<typeof heldBan>;
/** A v2 digest: what an agent holds, as a count and a hash. */
export type DigestMessage = z.infer<typeof digestMessageSchema>;
/** A v2 accepted reply: which hosts a request went to. */
export type AcceptedMessage = z.infer<typeof acceptedMessageSchema>;
/** A v2 state reply: (part of) the active bans with each host's state. */
export type StateMessage = z.infer<typeof stateMessageSchema>;
/** A host's state of one ban in a state reply. */
export type HostState = z.infer<typeof hostState>;
/** Any v2 message. */
export type Message = z.infer<typeof messageSchema>;
/** The v2-only request fields, absent from a legacy message (so `message.to` reads on any exec). */
interface NoV2Fields {
  id?: undefined;
  sender?: undefined;
  expires?: undefined;
  to?: undefined;
}
/** What a codec seals and opens: a v2 message, or a legacy one (v1 codecs open only those). */
export type Net2banMessage = (LegacyExecMessage & NoV2Fields) | (LegacyUpdateMessage & NoV2Fields) | Message;

/** One line for a zod failure: the path and the first issue, e.g. `params.ip: Too big: ...`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "invalid";
  const path = issue.path.map((part) => String(part)).join(".");
  return path === "" ? issue.message : `${path}: ${issue.message}`;
}

/**
 * Checks a decoded JSON value against the schemas of `version`; returns the message with unknown keys
 * removed. Throws `MessageRejectedError` (code "schema") when it does not fit.
 *
 * @example
 * ```ts
 * const exec = parseMessage(JSON.parse(text), 1); // a v1 message as the Python original wrote it
 * ```
 */
export function parseMessage(json: unknown, version: 1): LegacyMessage;
export function parseMessage(json: unknown, version: 2): Message;
export function parseMessage(json: unknown, version: 1 | 2): Net2banMessage;
export function parseMessage(json: unknown, version: 1 | 2): Net2banMessage {
  if (version !== 1 && version !== 2) {
    throw new RangeError(`"version" expected 1 or 2, got ${String(version)}`);
  }
  const result = (version === 1 ? legacyMessageSchema : messageSchema).safeParse(json);
  if (!result.success)
    throw new MessageRejectedError("schema", describeIssue(result.error), { cause: result.error });
  return result.data;
}
