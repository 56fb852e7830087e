// The self-lockout guard: addresses a ban must never cover (fail2ban's `ignoreip`), the defaults that
// protect loopback, the broker and this host, and the check net2banctl, the server and the agent share.

import { lookup as dnsLookup } from "node:dns/promises";
import { constants, type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import { assertFunction, assertObject, assertString, describe } from "./assert.js";
import { ipFamily } from "./ip.js";

/**
 * An address or CIDR block in one 128-bit space: IPv4 `a.b.c.d/p` is held as `::ffff:a.b.c.d/(96+p)`, so
 * that `::ffff:10.0.0.1` (which the action engine bans as 10.0.0.1) cannot slip past `10.0.0.0/8`.
 */
export interface AddressRange {
  /** As written (trimmed): what messages show. */
  readonly text: string;
  /** First address of the block (host bits cleared). */
  readonly network: bigint;
  /** Prefix length in the 128-bit space. */
  readonly prefix: number;
}

const ALL_BITS = (1n << 128n) - 1n;
const IPV4_MAPPED = 0xffffn << 32n;

/** An IPv4/IPv6 address or CIDR as written, in its own family's space, host bits kept. */
export interface ParsedAddress {
  readonly version: 4 | 6;
  /** The address as a 32-bit (IPv4) or 128-bit (IPv6) number. */
  readonly address: bigint;
  /** The prefix length after `/`; undefined when none was written. */
  readonly prefix: number | undefined;
}

function parseV4(text: string): bigint {
  return text.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseV6(text: string): bigint {
  let hex = text;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseV4(text.slice(lastColon + 1));
    hex = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const groups = (part: string): string[] => (part === "" ? [] : part.split(":"));
  const double = hex.indexOf("::");
  const left = groups(double === -1 ? hex : hex.slice(0, double));
  const right = double === -1 ? [] : groups(hex.slice(double + 2));
  const words = [...left, ...new Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return words.reduce((acc, word) => (acc << 16n) | BigInt(Number.parseInt(word, 16)), 0n);
}

/**
 * The one grammar of an `ip` in net2ban, shared by this guard and the action engine (so that nothing
 * the engine would ban slips past the guard unread): node:net isIP's grammar (ipFamily), no zone id (node accepts
 * "fe80::1%eth0", fail2ban does not), an optional decimal prefix within the family's length.
 * Undefined when `value` is not one; host names are not addresses here: nothing is resolved.
 */
export function parseAddress(value: string): ParsedAddress | undefined {
  assertString(value, "value");
  const slash = value.indexOf("/");
  const host = slash === -1 ? value : value.slice(0, slash);
  const version = /^[0-9A-Fa-f:.]+$/.test(host) ? ipFamily(host) : 0;
  if (version !== 4 && version !== 6) return undefined;
  let prefix: number | undefined;
  if (slash !== -1) {
    const tail = value.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(tail) || Number(tail) > (version === 4 ? 32 : 128)) return undefined;
    prefix = Number(tail);
  }
  return { version, address: version === 4 ? parseV4(host) : parseV6(host), prefix };
}

/**
 * Parses an IPv4/IPv6 address or CIDR with exactly the grammar the action engine accepts for a ban's
 * `ip` (parseAddress) into one 128-bit space; undefined otherwise.
 */
export function parseAddressRange(value: string): AddressRange | undefined {
  const parsed = parseAddress(value);
  if (parsed === undefined) return undefined;
  const v4 = parsed.version === 4;
  const network = v4 ? IPV4_MAPPED | parsed.address : parsed.address;
  const prefix = (parsed.prefix ?? (v4 ? 32 : 128)) + (v4 ? 96 : 0);
  return { text: value, network: network & (ALL_BITS ^ (ALL_BITS >> BigInt(prefix))), prefix };
}

/** True when one block contains the other (two CIDR blocks either nest or are disjoint). */
export function rangesOverlap(a: AddressRange, b: AddressRange): boolean {
  const shift = BigInt(128 - Math.min(a.prefix, b.prefix));
  return a.network >> shift === b.network >> shift;
}

/** One protected block and where it comes from, as messages show it: `[global]`, `default: loopback`. */
export interface AllowlistEntry {
  readonly range: AddressRange;
  readonly source: string;
}

/** Splits an `ignoreip` value: addresses and CIDRs separated by spaces and/or commas (fail2ban: spaces). */
export function splitIgnoreIp(raw: string): string[] {
  return raw.split(/[\s,]+/).filter((word) => word !== "");
}

/** Addresses and CIDR blocks a ban must not overlap. Immutable; `concat` makes a wider list. */
export class Allowlist {
  readonly entries: readonly AllowlistEntry[];

  constructor(entries: readonly AllowlistEntry[] = []) {
    if (!Array.isArray(entries)) throw new TypeError(`"entries" expected an array, got ${describe(entries)}`);
    this.entries = Object.freeze([...entries]);
  }

  /** An allowlist of `values` (addresses or CIDRs) labelled `source`; TypeError naming a bad value. */
  static of(source: string, values: readonly string[]): Allowlist {
    assertString(source, "source");
    if (!Array.isArray(values)) throw new TypeError(`"values" expected an array, got ${describe(values)}`);
    return new Allowlist(
      values.map((value, i) => {
        assertString(value, `values[${i}]`);
        const range = parseAddressRange(value);
        if (range === undefined) {
          throw new TypeError(
            `"values[${i}]" expected an IPv4/IPv6 address or CIDR, got ${JSON.stringify(value.slice(0, 80))}`,
          );
        }
        return { range, source };
      }),
    );
  }

  concat(...others: Allowlist[]): Allowlist {
    return new Allowlist([...this.entries, ...others.flatMap((other) => other.entries)]);
  }

  /** The first entry `target` overlaps (inside it, or a block containing it); undefined if none. */
  find(target: AddressRange): AllowlistEntry | undefined {
    return this.entries.find((entry) => rangesOverlap(entry.range, target));
  }
}

/** What an `exec` request asks for, as far as the guard is concerned. */
export interface BanLike {
  /** The operation: actionban, actionunban, ... */
  action: string;
  params: Readonly<Record<string, string>>;
}

/** Why a request may not run here: `message` is the operator's line, e.g. `ban 10.0.0.1 refused: ...`. */
export interface BanRefusal {
  ip: string;
  /** The entry it hits; absent when `ip` is not an address at all. */
  entry?: AllowlistEntry;
  message: string;
}

/** Only lifting a ban is always allowed: an unban can never lock anyone out. */
export function isUnban(action: string): boolean {
  return action === "actionunban";
}

function verbOf(action: string): string {
  return action === "actionban" ? "ban" : action;
}

/**
 * The guard: undefined when `request` may go ahead, else why not. A request whose `ip` is not an
 * IPv4/IPv6 address or CIDR is refused whatever the operation (nothing could check it); one whose `ip`
 * overlaps the allowlist is refused unless it is an unban. A request without `ip` bans nobody.
 */
export function checkBan(allowlist: Allowlist, request: BanLike): BanRefusal | undefined {
  if (!(allowlist instanceof Allowlist))
    throw new TypeError(`"allowlist" expected an Allowlist, got ${describe(allowlist)}`);
  assertObject(request, "request");
  assertString(request.action, "request.action");
  assertObject(request.params, "request.params");
  const ip = Object.hasOwn(request.params, "ip") ? request.params["ip"] : undefined;
  if (ip === undefined) return undefined;
  assertString(ip, "request.params.ip");
  const range = parseAddressRange(ip);
  const shown = JSON.stringify(ip.length > 80 ? `${ip.slice(0, 80)}...` : ip);
  if (range === undefined) {
    return { ip, message: `${verbOf(request.action)} ${shown} refused: not an IPv4/IPv6 address or CIDR` };
  }
  if (isUnban(request.action)) return undefined;
  const entry = allowlist.find(range);
  if (entry === undefined) return undefined;
  return {
    ip,
    entry,
    message: `${verbOf(request.action)} ${ip} refused: ${entry.range.text} is in ignoreip (${entry.source})`,
  };
}

/** A ban of an allowlisted address (or of something that is not an address) was refused. */
export class BanRefusedError extends Error {
  override readonly name = "BanRefusedError";
  readonly refusal: BanRefusal;

  constructor(refusal: BanRefusal, options?: { cause?: unknown }) {
    super(refusal.message, options);
    this.refusal = refusal;
  }
}

/** checkBan that throws BanRefusedError instead of returning the refusal. */
export function assertBanAllowed(allowlist: Allowlist, request: BanLike): void {
  const refusal = checkBan(allowlist, request);
  if (refusal !== undefined) throw new BanRefusedError(refusal);
}

/** Loopback, never bannable: a host that bans 127.0.0.1 or ::1 breaks itself. */
export const LOOPBACK: readonly string[] = Object.freeze(["127.0.0.0/8", "::1"]);

/** The I/O the defaults need; tests pass fixed answers. */
export interface ProtectedAddressesOptions {
  /** amqp(s):// URLs of the broker nodes: their hosts are protected. */
  brokerUrls: readonly string[];
  /** This host's addresses (default: every address of os.networkInterfaces()); `false` for none. */
  localAddresses?: (() => readonly string[]) | false;
  /**
   * Resolves a broker host name to its addresses (default: node:dns lookup, every address);
   * `false` protects literal addresses only.
   */
  resolveHost?: ((host: string) => Promise<readonly string[]>) | false;
  /** Told about a broker name that could not be resolved (it is then not protected). */
  onWarning?: (line: string) => void;
}

/**
 * This host's own addresses cannot be read: the process may not open the netlink socket that lists them
 * (a sandbox such as systemd's RestrictAddressFamilies= without AF_NETLINK). Restarting cannot fix it, and
 * running without them would let a ban cut the host off, so start-up stops (exit 2).
 */
export class LocalAddressesError extends Error {
  override name = "LocalAddressesError";
}

/** What socket(AF_NETLINK) fails with when a sandbox forbids it: a seccomp filter or an LSM. */
const FORBIDDEN = new Set([constants.errno.EAFNOSUPPORT, constants.errno.EPERM, constants.errno.EACCES]);

function errnoName(errno: number): string {
  return Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
}

/**
 * Every address of this host's interfaces, as os.networkInterfaces() lists them (zone ids dropped).
 * `list` stands in for os.networkInterfaces in tests.
 */
export function localInterfaceAddresses(
  list: () => NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces,
): string[] {
  let interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
  try {
    interfaces = list();
  } catch (error) {
    // libuv's SystemError carries the errno in `info` (uv_interface_addresses returned ... 97).
    const errno = Math.abs(Number((error as { info?: { errno?: unknown } }).info?.errno));
    if (!FORBIDDEN.has(errno)) throw error;
    throw new LocalAddressesError(
      `cannot read this host's own addresses, which no ban may cover: opening a netlink socket failed ` +
        `with ${errnoName(errno)}; under systemd, RestrictAddressFamilies= must include AF_NETLINK`,
      { cause: error },
    );
  }
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      const address = info.address.split("%")[0] ?? "";
      if (parseAddressRange(address) !== undefined) out.push(address);
    }
  }
  return out;
}

async function resolveAll(host: string): Promise<string[]> {
  const found = await dnsLookup(host, { all: true, verbatim: true });
  return found.map((entry) => entry.address);
}

/** The broker hosts of `urls`: `[::1]` unbracketed; duplicates dropped. */
export function brokerHosts(urls: readonly string[]): string[] {
  const hosts = new Set<string>();
  for (const url of urls) {
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      continue;
    }
    if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
    if (host !== "") hosts.add(host);
  }
  return [...hosts];
}

/**
 * The allowlist every net2ban process applies on top of `ignoreip`: loopback, the broker's addresses
 * (literal ones as written; names resolved now, once) and this host's own addresses.
 */
export async function protectedAddresses(options: ProtectedAddressesOptions): Promise<Allowlist> {
  assertObject(options, "options");
  if (!Array.isArray(options.brokerUrls))
    throw new TypeError(`"options.brokerUrls" expected an array, got ${describe(options.brokerUrls)}`);
  const local = options.localAddresses ?? localInterfaceAddresses;
  const resolve = options.resolveHost ?? resolveAll;
  if (local !== false) assertFunction(local, "options.localAddresses");
  if (resolve !== false) assertFunction(resolve, "options.resolveHost");
  const warn = options.onWarning ?? (() => undefined);
  const lists = [Allowlist.of("default: loopback", LOOPBACK)];
  for (const host of brokerHosts(options.brokerUrls)) {
    const source = `default: broker ${host}`;
    if (parseAddressRange(host) !== undefined) {
      lists.push(Allowlist.of(source, [host]));
      continue;
    }
    if (resolve === false) continue;
    try {
      const addresses = (await resolve(host)).filter((a) => parseAddressRange(a) !== undefined);
      lists.push(Allowlist.of(source, addresses));
    } catch (error) {
      warn(
        `broker host ${host} could not be resolved (${(error as Error).message}); its addresses are not protected from bans`,
      );
    }
  }
  if (local !== false) {
    const addresses = local().filter((a) => typeof a === "string" && parseAddressRange(a) !== undefined);
    lists.push(Allowlist.of("default: this host", addresses));
  }
  return new Allowlist().concat(...lists);
}
