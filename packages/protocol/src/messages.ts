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

/** v2 `exec`: the legacy exec plus id, sender, and optional expires / to. */
export const execMessageSchema = legacyExecMessageSchema.extend(requestFields);

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
});

/**
 * Any v2 message. Objects strip unknown keys rather than reject them, so a newer sender can add an
 * optional field without breaking older receivers; a new command (ban, unban, digest) is one more
 * member of this union, and unknown commands are rejected.
 */
export const messageSchema = z.discriminatedUnion("cmd", [
  execMessageSchema,
  updateMessageSchema,
  resultMessageSchema,
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
