// The `ip` of a ticket as fail2ban's IPAddr shows it: normalised text, family and reverse name. What is
// an address at all is @net2ban/config's parseAddress, the grammar the self-lockout guard reads too.

import { parseAddress } from "@net2ban/config";

export type Family = "inet4" | "inet6";

/** A ticket address: what `<ip>`, `<fid>`, `<family>` and `<ip-rev>` render to. */
export interface TicketAddress {
  /** IPAddr.ntoa: canonical text, `/plen` kept only for a real subnet. */
  readonly text: string;
  readonly family: Family;
  /** IPAddr.getPTR(""): reversed labels with a trailing dot, as `<ip-rev>`. */
  readonly reverse: string;
}

function v4Text(addr: bigint): string {
  // below 2^32: exact as a Number, and much cheaper than four BigInt shifts per address
  const n = Number(addr & 0xffffffffn);
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

// glibc inet_ntop(AF_INET6): longest run (first wins) of >= 2 zero words becomes "::"; an
// IPv4-compatible (::a.b.c.d) or mapped (::ffff:a.b.c.d) address keeps a dotted tail.
function v6Text(addr: bigint): string {
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((addr >> BigInt(i * 16)) & 0xffffn));
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.base !== -1 && best.len < 2) best = { base: -1, len: 0 };
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff))) {
      out += v4Text(addr & 0xffffffffn);
      break;
    }
    out += words[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ":";
  return out;
}

/**
 * Parses an address or CIDR (`192.0.2.7`, `2001:db8::/32`) as fail2ban's IPAddr does: host bits
 * masked off, `/32` and `/128` dropped, `::ffff:a.b.c.d` turned into IPv4. Undefined when it is not
 * one (parseAddress of @net2ban/config).
 */
export function parseTicketAddress(value: string): TicketAddress | undefined {
  const parsed = parseAddress(value);
  if (parsed === undefined) return undefined;
  const bits = parsed.version === 4 ? 32 : 128;
  let prefix = parsed.prefix ?? bits;
  let addr = parsed.address;
  let family: Family = parsed.version === 4 ? "inet4" : "inet6";
  if (parsed.prefix !== undefined) {
    const all = (1n << BigInt(bits)) - 1n;
    addr &= all ^ (all >> BigInt(prefix));
  } else if (parsed.version === 6 && addr >> 32n === 0xffffn) {
    addr &= 0xffffffffn;
    family = "inet4";
    prefix = 32;
  }
  const full = family === "inet4" ? 32 : 128;
  const suffix = prefix > 0 && prefix < full ? `/${prefix}` : "";
  const text = (family === "inet4" ? v4Text(addr) : v6Text(addr)) + suffix;
  let labels: string[];
  if (family === "inet4") labels = text.split(".");
  else labels = addr.toString(16).padStart(32, "0").split("");
  return { text, family, reverse: `${labels.reverse().join(".")}.` };
}
