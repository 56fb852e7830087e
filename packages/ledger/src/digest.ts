// The key of a ban and the digest of a set of bans: what an agent reports and the server compares.
import { createHash } from "node:crypto";

/** What identifies a ban: the action file, the jail name and the address. */
export interface BanIdentity {
  file: string;
  name: string;
  ip: string;
}

/** A ban's key: the JSON array `[file, name, ip]` (unambiguous whatever the characters). */
export function banKey(ban: BanIdentity): string {
  return JSON.stringify([ban.file, ban.name, ban.ip]);
}

/** The identity back from a key made by banKey; undefined for anything else. */
export function parseBanKey(key: string): BanIdentity | undefined {
  let value: unknown;
  try {
    value = JSON.parse(key);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === "string")) {
    return undefined;
  }
  const [file, name, ip] = value as [string, string, string];
  return { file, name, ip };
}

/** How many bans and a hash of their keys: equal digests mean (with overwhelming odds) equal sets. */
export interface BanDigest {
  count: number;
  /** Hex SHA-256 of the sorted keys, each followed by "\n". */
  hash: string;
}

/** The digest of a set of keys (order does not matter; duplicates count once). */
export function digestOf(keys: Iterable<string>): BanDigest {
  const sorted = [...new Set(keys)].sort();
  const hash = createHash("sha256");
  for (const key of sorted) hash.update(`${key}\n`);
  return { count: sorted.length, hash: hash.digest("hex") };
}
