// Message params: which are ticket values (the ban), which are caller options (`action[key=value]`),
// and the checks every param passes before anything is rendered.

import { assertObject, assertStringRecord } from "./assert.js";
import { ParamRefusedError } from "./errors.js";
import { parseTicketAddress, type TicketAddress } from "./ipaddr.js";
import { captureKey } from "./tags.js";

/** Params that are ban-ticket values (plus `F-<NAME>` filter captures); every other param is a caller option. */
export const TICKET_KEYS: readonly string[] = Object.freeze([
  "ip",
  "failures",
  "time",
  "matches",
  "bantime",
  "bancount",
  "restored",
  "ipmatches",
  "ipjailmatches",
  "ipfailures",
  "ipjailfailures",
  "ip-host",
  "jail.banned",
  "jail.banned_total",
  "jail.found",
  "jail.found_total",
]);

const TICKET_KEY_SET: ReadonlySet<string> = new Set(TICKET_KEYS);
const CAPTURE_RE = /^F-[A-Z0-9_-]+$/;
const PARAM_NAME_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const INTEGER_RE = /^-?(0|[1-9][0-9]*)$/;
const TIME_RE = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;
const INTEGER_KEYS: ReadonlySet<string> = new Set([
  "failures",
  "bantime",
  "bancount",
  "restored",
  "ipfailures",
  "ipjailfailures",
  "jail.banned",
  "jail.banned_total",
  "jail.found",
  "jail.found_total",
]);

/** ActionReader._configOpts: [Definition] operations and switches a message may never set. */
export const DEFINITION_OPTIONS: readonly string[] = Object.freeze([
  "actionstart",
  "actionstart_on_demand",
  "actionstop",
  "actionflush",
  "actionreload",
  "actioncheck",
  "actionrepair",
  "actionrepair_on_unban",
  "actionban",
  "actionprolong",
  "actionreban",
  "actionunban",
  "norestored",
]);

/** Tags fail2ban computes from the ticket: a message cannot set them. */
const COMPUTED_TAGS: ReadonlySet<string> = new Set(["family", "ip-rev", "fid", "raw-ticket"]);

/**
 * Names fail2ban's server treats as CommandAction methods or internals (`ban = ...` would call ban()),
 * so an option by that name never becomes a tag.
 */
export const COMMAND_ACTION_NAMES: ReadonlySet<string> = new Set([
  "ban",
  "clearAllParams",
  "consistencyCheck",
  "escapeTag",
  "executeCmd",
  "flush",
  "invalidateBanEpoch",
  "prolong",
  "reban",
  "reload",
  "replaceDynamicTags",
  "replaceTag",
  "start",
  "stop",
  "unban",
  "banEpoch",
  "ESCAPE_CRE",
  "ESCAPE_VN_CRE",
]);

export function isTicketKey(name: string): boolean {
  return TICKET_KEY_SET.has(name) || name.startsWith("F-");
}

/** Splits message params into ticket values and caller options (no checks: see validateParams). */
export function classifyParams(params: Record<string, string>): {
  ticket: Record<string, string>;
  options: Record<string, string>;
} {
  assertObject(params, "params");
  const ticket: Record<string, string> = {};
  const options: Record<string, string> = {};
  for (const key of Object.keys(params)) {
    const value: unknown = params[key];
    if (typeof value !== "string") {
      assertStringRecord(params, "params"); // throws, naming the key
      continue;
    }
    if (isTicketKey(key)) ticket[key] = value;
    else options[key] = value;
  }
  return { ticket, options };
}

/** Checked params: the ticket's address parsed, the rest as given. */
export interface CheckedParams {
  readonly ticket: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, string>>;
  readonly address: TicketAddress | undefined;
}

/**
 * The checks independent of the action file: names, NUL, `ip` an address or CIDR, numeric ticket
 * values canonical numbers, captures upper case and distinct, caller options not Definition
 * operations, computed tags or CommandAction internals. Throws ParamRefusedError naming the param.
 */
export function validateParams(params: Record<string, string>): CheckedParams {
  const { ticket, options } = classifyParams(params);
  for (const key of Object.keys(params)) {
    if (!PARAM_NAME_RE.test(key)) throw new ParamRefusedError(key, `name must match ${PARAM_NAME_RE}`);
    if (params[key]!.includes("\0")) throw new ParamRefusedError(key, "value contains a NUL character");
  }
  let address: TicketAddress | undefined;
  if (ticket.ip !== undefined) {
    address = parseTicketAddress(ticket.ip);
    if (address === undefined)
      throw new ParamRefusedError("ip", `not an IPv4/IPv6 address or CIDR: ${JSON.stringify(ticket.ip)}`);
  }
  let captures: Map<string, string> | undefined;
  for (const key of Object.keys(ticket)) {
    const value = ticket[key]!;
    if (INTEGER_KEYS.has(key) && !INTEGER_RE.test(value)) {
      throw new ParamRefusedError(key, `expected an integer, got ${JSON.stringify(value)}`);
    }
    if (key === "time" && !TIME_RE.test(value)) {
      throw new ParamRefusedError(key, `expected a Unix time in seconds, got ${JSON.stringify(value)}`);
    }
    if (key.startsWith("F-")) {
      if (!CAPTURE_RE.test(key))
        throw new ParamRefusedError(key, "filter capture names are F-<UPPER CASE NAME>");
      const stored = captureKey(key.slice(2));
      captures ??= new Map();
      const other = captures.get(stored);
      if (other !== undefined) throw new ParamRefusedError(key, `names the same capture as ${other}`);
      captures.set(stored, key);
    }
  }
  for (const key of Object.keys(options)) {
    const reason = reservedOptionReason(key);
    if (reason !== undefined) throw new ParamRefusedError(key, reason);
  }
  return { ticket, options, address };
}

/** Why caller option `key` can never be set by a message (whatever the policy), or undefined. */
export function reservedOptionReason(key: string): string | undefined {
  if (DEFINITION_OPTIONS.includes(key) || key.startsWith("actionset_") || key === "actionprobe")
    return "a message may not replace a [Definition] operation or switch";
  if (COMPUTED_TAGS.has(key)) return "computed from the ticket, cannot be set";
  if (COMMAND_ACTION_NAMES.has(key)) return "reserved by fail2ban's CommandAction";
  if (key !== key.toLowerCase())
    return "option names are lower case (fail2ban lower-cases them in action files)";
  return undefined;
}
