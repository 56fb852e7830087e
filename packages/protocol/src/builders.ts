// Builders for third-party tools: a ban, an unban, any exec, an action file update, a result; and the ban
// state requests (tracked ban / unban, status) and digests. Valid by construction.
import { randomUUID } from "node:crypto";
import { isIP } from "node:net";
import { hostname } from "node:os";
import type { z } from "zod";
import { assertFunction, assertObject, assertString, describe } from "./assert.js";
import {
  type BanMessage,
  banMessageSchema,
  type DigestMessage,
  digestMessageSchema,
  type ExecMessage,
  execMessageSchema,
  type ResultMessage,
  resultMessageSchema,
  type StatusMessage,
  statusMessageSchema,
  type UnbanMessage,
  type UpdateMessage,
  unbanMessageSchema,
  updateMessageSchema,
} from "./messages.js";

/** Options every request builder takes. */
export interface RequestOptions {
  /** Host or tool name shown in the server's and agents' logs; default: this host's name. */
  sender?: string;
  /** Limit the request to these clients; default: every client. */
  to?: readonly string[];
  /** Seconds since the epoch after which agents must not run it. */
  expires?: number;
  /** Clock, milliseconds since the epoch (as Date.now); default Date.now. */
  now?: () => number;
  /** Message id; default a random UUID v4. */
  id?: string;
}

/** Requests whose progress net2banctl can follow (`--wait`): the server sends each host's result here. */
export interface ReplyOptions {
  /** A queue the caller consumes (exclusive, auto-delete); the server sends `accepted` and results to it. */
  replyTo?: string;
}

/** Input of createExecRequest. */
export interface ExecRequestInput extends RequestOptions, ReplyOptions {
  /** Action file base name, e.g. "iptables-multiport". */
  file: string;
  /** Action of that file, e.g. "actionban". */
  action: string;
  /** Values for the file's `<tags>`, e.g. `{ name: "sshd", ip: "203.0.113.9" }`. */
  params?: Readonly<Record<string, string>>;
}

/** Input of createExecBanRequest and createExecUnbanRequest. */
export interface BanRequestInput extends RequestOptions {
  /** IPv4 or IPv6 address, or a CIDR block. */
  ip: string;
  /** Action file base name; default "iptables-multiport". */
  action?: string;
  /** The jail name (`<name>` in the action file); default: the action file's own default. */
  name?: string;
  /** Further `<tags>` for the action file (not `ip` nor `name`). */
  params?: Readonly<Record<string, string>>;
}

/** Input of createTrackedBanRequest. */
export interface TrackedBanInput extends BanRequestInput, ReplyOptions {
  /** Seconds the ban lasts from now; null: no end; absent: the server's `bantime`. */
  duration?: number | null;
}

/** Input of createTrackedUnbanRequest: without `action` / `name`, every ban of `ip` is lifted. */
export interface TrackedUnbanInput extends RequestOptions, ReplyOptions {
  ip: string;
  action?: string;
  name?: string;
  /** Release only this holder's hold ("server" or a publisher's name); taken from the [server] key only. */
  holder?: string;
}

/** Input of createStatusRequest. */
export interface StatusRequestInput {
  /** Only the bans of this address. */
  ip?: string;
  replyTo: string;
  sender?: string;
  now?: () => number;
  id?: string;
}

/** Input of createDigestMessage. */
export interface DigestInput {
  client: string;
  reason: DigestMessage["reason"];
  count: number;
  hash: string;
  missing?: number;
  sender?: string;
  now?: () => number;
  id?: string;
}

/** Input of createUpdateRequest. */
export interface UpdateRequestInput extends RequestOptions {
  /** Action file base name the client stores it under. */
  file: string;
  /**
   * The action file: its bytes (base64-encoded here), or a string that is already the base64 the
   * message carries (as the original net2banctl made it: comments and blank lines removed first).
   */
  content: string | Uint8Array;
  /** The client whose action file is replaced. */
  client: string;
}

/** Input of createResultMessage. */
export interface ResultInput {
  /** The `id` of the request this result answers. */
  requestId: string;
  /** The client (agent) reporting. */
  client: string;
  ok: boolean;
  exitCode: number | null;
  durationMs: number;
  /** The command's stderr; only its last 2048 characters are kept. */
  stderr?: string;
  /** Ban state: what the agent did, and the ban it concerns. */
  op?: ResultMessage["op"];
  file?: string;
  name?: string;
  ip?: string;
  /** Seconds from the request's timestamp until done here. */
  latencySeconds?: number;
  /** A short note for operators (at most 512 characters are kept). */
  detail?: string;
  sender?: string;
  now?: () => number;
  id?: string;
}

const DEFAULT_BAN_ACTION = "iptables-multiport";

/**
 * Builds an `exec` request: run `action` of action file `file` with `params` on every (or `to`) client.
 *
 * @example
 * ```ts
 * const exec = createExecRequest({ file: "nftables", action: "actionban", params: { ip: "2001:db8::1" } });
 * channel.sendToQueue("input_net2ban", codec.seal(exec), { persistent: true, messageId: exec.id });
 * ```
 */
export function createExecRequest(input: ExecRequestInput): ExecMessage {
  assertObject(input, "input");
  return build(execMessageSchema, {
    cmd: "exec",
    file: input.file,
    action: input.action,
    params: copyParams(input.params, "params"),
    ...common(input),
    ...optional({ replyTo: input.replyTo }),
  });
}

/**
 * Builds the exec request for `actionban` of action file `action` with `ip` (and `name`): the original
 * net2ban's ban, run once by every agent. For a ban the server keeps (with an end), see createTrackedBanRequest.
 *
 * @example
 * ```ts
 * const ban = createExecBanRequest({ ip: "203.0.113.9", name: "sshd", to: ["web1", "web2"] });
 * channel.sendToQueue("input_net2ban", codec.seal(ban), { persistent: true, messageId: ban.id });
 * ```
 */
export function createExecBanRequest(input: BanRequestInput): ExecMessage {
  return banOrUnban(input, "actionban");
}

/**
 * Builds the exec request for `actionunban` of action file `action` with `ip` (and `name`).
 *
 * @example
 * ```ts
 * const unban = createExecUnbanRequest({ ip: "203.0.113.9", name: "sshd" });
 * ```
 */
export function createExecUnbanRequest(input: BanRequestInput): ExecMessage {
  return banOrUnban(input, "actionunban");
}

/**
 * @deprecated Use createExecBanRequest: it builds an `exec` message, not a `ban` (see
 * createTrackedBanRequest). This name will build the `ban` message in the next major version.
 * @alias
 */
export const createBanRequest: (input: BanRequestInput) => ExecMessage = createExecBanRequest;

/**
 * @deprecated Use createExecUnbanRequest: it builds an `exec` message, not an `unban` (see
 * createTrackedUnbanRequest). This name will build the `unban` message in the next major version.
 * @alias
 */
export const createUnbanRequest: (input: BanRequestInput) => ExecMessage = createExecUnbanRequest;

/**
 * Builds an `update` request that replaces action file `file` on `client` with `content`.
 *
 * @example
 * ```ts
 * const content = await readFile("/etc/fail2ban/action.d/iptables-multiport.conf");
 * const update = createUpdateRequest({ file: "iptables-multiport", content, client: "web1" });
 * ```
 */
export function createUpdateRequest(input: UpdateRequestInput): UpdateMessage {
  assertObject(input, "input");
  let content: string;
  if (typeof input.content === "string") content = input.content;
  else if (input.content instanceof Uint8Array) {
    content = Buffer.from(input.content.buffer, input.content.byteOffset, input.content.byteLength).toString(
      "base64",
    );
  } else
    throw new TypeError(`"content" expected a base64 string or a Uint8Array, got ${describe(input.content)}`);
  return build(updateMessageSchema, {
    cmd: "update",
    file: input.file,
    content,
    client: input.client,
    ...common(input),
  });
}

/**
 * Builds the `result` an agent sends back for request `requestId`.
 *
 * @example
 * ```ts
 * const result = createResultMessage({ requestId: exec.id, client: "web1", ok: true, exitCode: 0, durationMs: 12 });
 * ```
 */
export function createResultMessage(input: ResultInput): ResultMessage {
  assertObject(input, "input");
  const stderr = input.stderr ?? "";
  assertString(stderr, "stderr");
  return build(resultMessageSchema, {
    cmd: "result",
    id: input.id ?? randomUUID(),
    sender: input.sender ?? hostname(),
    timestamp: clock(input.now),
    requestId: input.requestId,
    client: input.client,
    ok: input.ok,
    exitCode: input.exitCode,
    durationMs: input.durationMs,
    stderr: stderr.length > 2048 ? stderr.slice(-2048) : stderr,
    ...optional({
      op: input.op,
      file: input.file,
      name: input.name,
      ip: input.ip,
      latencySeconds: input.latencySeconds,
      detail: input.detail === undefined ? undefined : String(input.detail).slice(0, 512),
    }),
  });
}

/**
 * Builds a `ban` request: ban `ip` with action file `action` (default iptables-multiport) for jail `name`
 * (default "default") on every (or `to`) host, kept in the server's ledger for `duration` seconds.
 *
 * @example
 * ```ts
 * // One hour; the server re-applies it on a host that restarts or lost it, and lifts it at the end.
 * const ban = createTrackedBanRequest({ ip: "198.51.100.0/24", name: "sshd", duration: 3600 });
 * ```
 */
export function createTrackedBanRequest(input: TrackedBanInput): BanMessage {
  assertObject(input, "input");
  assertIpOrBlock(input.ip);
  const params = copyParams(input.params, "params");
  for (const reserved of ["ip", "name"]) {
    if (Object.hasOwn(params, reserved)) {
      throw new TypeError(`"params" must not contain "${reserved}": pass it as "${reserved}"`);
    }
  }
  if (input.duration !== undefined && input.duration !== null) {
    if (typeof input.duration !== "number" || !Number.isFinite(input.duration) || input.duration <= 0) {
      throw new RangeError(`"duration" expected seconds > 0 or null, got ${String(input.duration)}`);
    }
  }
  return build(
    banMessageSchema,
    {
      cmd: "ban",
      file: input.action ?? DEFAULT_BAN_ACTION,
      name: input.name ?? "default",
      ip: input.ip,
      params,
      ...(input.duration === undefined ? {} : { duration: input.duration }),
      ...common(input),
      ...optional({ replyTo: input.replyTo }),
    },
    { file: "action" },
  );
}

/**
 * Builds an `unban` request: lift the ledger's bans of `ip` (of `action` / `name` when given) everywhere.
 *
 * @example
 * ```ts
 * const unban = createTrackedUnbanRequest({ ip: "198.51.100.0/24" }); // every jail's ban of it
 * ```
 */
export function createTrackedUnbanRequest(input: TrackedUnbanInput): UnbanMessage {
  assertObject(input, "input");
  assertIpOrBlock(input.ip);
  return build(
    unbanMessageSchema,
    {
      cmd: "unban",
      ip: input.ip,
      ...optional({ file: input.action, name: input.name, holder: input.holder, replyTo: input.replyTo }),
      ...common(input),
    },
    { file: "action" },
  );
}

/**
 * Builds a `status` request; the server answers on `replyTo` with `state` messages.
 *
 * @example
 * ```ts
 * const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
 * const status = createStatusRequest({ replyTo: queue, ip: "203.0.113.9" });
 * ```
 */
export function createStatusRequest(input: StatusRequestInput): StatusMessage {
  assertObject(input, "input");
  if (input.ip !== undefined) assertIpOrBlock(input.ip);
  return build(statusMessageSchema, {
    cmd: "status",
    ...optional({ ip: input.ip }),
    replyTo: input.replyTo,
    id: input.id ?? randomUUID(),
    sender: input.sender ?? hostname(),
    timestamp: clock(input.now),
  });
}

/**
 * Builds the `digest` an agent sends of the bans it holds.
 *
 * @example
 * ```ts
 * const digest = createDigestMessage({ client: "web1", reason: "interval", count: 0, hash: "0".repeat(64) });
 * ```
 */
export function createDigestMessage(input: DigestInput): DigestMessage {
  assertObject(input, "input");
  return build(digestMessageSchema, {
    cmd: "digest",
    client: input.client,
    reason: input.reason,
    count: input.count,
    hash: input.hash,
    ...optional({ missing: input.missing }),
    id: input.id ?? randomUUID(),
    sender: input.sender ?? hostname(),
    timestamp: clock(input.now),
  });
}

/** The fields of `fields` that are set (exactOptionalPropertyTypes: absent, never undefined). */
function optional(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

function banOrUnban(input: BanRequestInput, action: "actionban" | "actionunban"): ExecMessage {
  assertObject(input, "input");
  assertIpOrBlock(input.ip);
  const extra = copyParams(input.params, "params");
  for (const reserved of ["ip", "name"]) {
    if (Object.hasOwn(extra, reserved)) {
      throw new TypeError(`"params" must not contain "${reserved}": pass it as "${reserved}"`);
    }
  }
  if (input.name !== undefined) assertString(input.name, "name");
  const params = { ip: input.ip, ...(input.name === undefined ? {} : { name: input.name }), ...extra };
  return build(
    execMessageSchema,
    { cmd: "exec", file: input.action ?? DEFAULT_BAN_ACTION, action, params, ...common(input) },
    { file: "action" },
  );
}

function common(input: RequestOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    id: input.id ?? randomUUID(),
    sender: input.sender ?? hostname(),
    timestamp: clock(input.now),
  };
  if (input.expires !== undefined) fields["expires"] = input.expires;
  if (input.to !== undefined) {
    if (!Array.isArray(input.to)) throw new TypeError(`"to" expected an array, got ${describe(input.to)}`);
    fields["to"] = [...input.to];
  }
  return fields;
}

function clock(now: (() => number) | undefined): number {
  if (now === undefined) return Date.now() / 1000;
  assertFunction(now, "now");
  const ms = now();
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`"now" expected to return milliseconds since the epoch, got ${String(ms)}`);
  }
  return ms / 1000;
}

function copyParams(params: unknown, argument: string): Record<string, string> {
  if (params === undefined) return {};
  assertObject(params, argument);
  return { ...params } as Record<string, string>;
}

function assertIpOrBlock(ip: unknown): asserts ip is string {
  assertString(ip, "ip");
  const slash = ip.indexOf("/");
  const address = slash === -1 ? ip : ip.slice(0, slash);
  const family = isIP(address);
  let valid = family !== 0;
  if (valid && slash !== -1) {
    const prefix = ip.slice(slash + 1);
    valid = /^(0|[1-9][0-9]{0,2})$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
  }
  if (!valid) {
    throw new TypeError(
      `"ip" expected an IPv4 or IPv6 address or CIDR block, got ${JSON.stringify(ip.slice(0, 80))}`,
    );
  }
}

/** Validates with the wire schema so a builder can never produce what a receiver would reject. */
function build<T>(
  schema: z.ZodType<T>,
  candidate: Record<string, unknown>,
  argumentOf: Record<string, string> = {},
): T {
  const result = schema.safeParse(candidate);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = (issue?.path ?? []).map((part) => String(part));
  const field = path[0];
  if (field !== undefined) path[0] = argumentOf[field] ?? field;
  throw new TypeError(`"${path.join(".") || "input"}" ${issue?.message ?? "invalid"}`, {
    cause: result.error,
  });
}
