// Key derivation for both envelopes (v1 legacy session key, v2 per-recipient keys) and the cache a server shares.
import { createHash, createSecretKey, hkdfSync, type KeyObject, pbkdf2 } from "node:crypto";
import { assertInteger, assertObject, assertOneOf, assertSecret, assertString } from "./assert.js";
import { CLIENT_NAME, LIMITS } from "./messages.js";

/** The secrets of one peer, as net2ban.cfg gives them (the config resolves per-section overrides). */
export interface KeyMaterial {
  /** The peer's own key ([server] key or [clientN] key). */
  key: string;
  /** The shared secret, the PBKDF2 salt. */
  secret: string;
  /** PBKDF2 iterations. */
  rounds: number;
  /** The shared authentication key (v1: the HMAC key; v2: the HKDF salt). */
  authkey: string;
}

/**
 * Which way a message travels; it selects (and in v2 binds) the keys:
 * `to-server` requests and `from-server` replies (to `--wait`, `status`) use the server's key,
 * `to-agent` commands and `from-agent` results the client's.
 */
export type Direction = "to-server" | "to-agent" | "from-agent" | "from-server";

export const DIRECTIONS: readonly Direction[] = ["to-server", "to-agent", "from-agent", "from-server"];

/** The two keys an envelope uses, imported once so no call re-imports them. */
export interface EnvelopeKeys {
  readonly encryptionKey: KeyObject;
  readonly macKey: KeyObject;
}

/** Longest key, secret or authkey accepted (characters). */
const MAX_SECRET_LENGTH = 4096;
/** Upper bound on PBKDF2 rounds: enough for any sane setting, low enough that a typo cannot hang a server. */
export const MAX_ROUNDS = 10_000_000;

const V2_PBKDF2_LABEL = Buffer.from("net2ban v2 pbkdf2\0", "ascii");
const V2_HKDF_LABEL = "net2ban v2\0";

/** Checks a KeyMaterial argument, naming the field at fault but never echoing a secret. */
export function assertKeyMaterial(value: unknown, argument: string): asserts value is KeyMaterial {
  assertObject(value, argument);
  assertSecret(value["key"], `${argument}.key`, MAX_SECRET_LENGTH);
  assertSecret(value["secret"], `${argument}.secret`, MAX_SECRET_LENGTH);
  assertSecret(value["authkey"], `${argument}.authkey`, MAX_SECRET_LENGTH);
  assertInteger(value["rounds"], `${argument}.rounds`, 1, MAX_ROUNDS);
}

/** A client name, or "server": what the v2 header carries and the key derivation binds. */
export function assertKeyId(value: unknown, argument: string): asserts value is string {
  assertString(value, argument);
  if (value.length === 0 || value.length > LIMITS.clientName || !CLIENT_NAME.test(value)) {
    throw new TypeError(
      `"${argument}" expected a client name or "server" (1-${LIMITS.clientName} of A-Z a-z 0-9 _ . @ + -, not starting with . @ + -), got ${JSON.stringify(value.slice(0, 80))}`,
    );
  }
}

/** PBKDF2-HMAC-SHA256 on the libuv pool, so a server deriving many client keys does not block. */
export function pbkdf2Sha256(password: Buffer, salt: Buffer, rounds: number, length = 32): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, rounds, length, "sha256", (error, derived) =>
      error ? reject(error) : resolve(derived),
    );
  });
}

const AB64 = Buffer.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./", "ascii");

/**
 * The legacy session key: passlib's "ab64" (base64 with `.` for `+`, no padding) of
 * PBKDF2-HMAC-SHA256(key, salt = secret, rounds, 32), first 32 characters, as ASCII bytes.
 * 32 characters are exactly the first 24 bytes of the digest, so no padding ever appears; encoding by
 * hand keeps the key out of immutable JS strings.
 */
export async function deriveLegacySessionKey(material: KeyMaterial): Promise<Buffer> {
  assertKeyMaterial(material, "material");
  const password = Buffer.from(material.key, "utf8");
  const salt = Buffer.from(material.secret, "utf8");
  const raw = await pbkdf2Sha256(password, salt, material.rounds);
  const sessionKey = Buffer.alloc(32);
  for (let group = 0; group < 8; group++) {
    const a = raw[group * 3]!;
    const b = raw[group * 3 + 1]!;
    const c = raw[group * 3 + 2]!;
    sessionKey[group * 4] = AB64[a >> 2]!;
    sessionKey[group * 4 + 1] = AB64[((a & 3) << 4) | (b >> 4)]!;
    sessionKey[group * 4 + 2] = AB64[((b & 15) << 2) | (c >> 6)]!;
    sessionKey[group * 4 + 3] = AB64[c & 63]!;
  }
  raw.fill(0);
  password.fill(0);
  salt.fill(0);
  return sessionKey;
}

/** v1 keys: the legacy session key for AES, the authkey's raw UTF-8 bytes for HMAC (shared by everyone). */
export async function deriveLegacyKeys(material: KeyMaterial): Promise<EnvelopeKeys> {
  const sessionKey = await deriveLegacySessionKey(material);
  const authkey = Buffer.from(material.authkey, "utf8");
  try {
    return { encryptionKey: createSecretKey(sessionKey), macKey: createSecretKey(authkey) };
  } finally {
    sessionKey.fill(0);
    authkey.fill(0);
  }
}

/**
 * v2 keys of one (peer key, key id, direction):
 *   base = PBKDF2-HMAC-SHA256(key, salt = "net2ban v2 pbkdf2\0" ‖ secret, rounds, 32)
 *   enc  = HKDF-SHA256(base, salt = authkey, info = "net2ban v2\0enc\0" ‖ direction ‖ "\0" ‖ keyId, 32)
 *   mac  = HKDF-SHA256(base, salt = authkey, info = "net2ban v2\0mac\0" ‖ direction ‖ "\0" ‖ keyId, 32)
 * Knowing secret and authkey is not enough: every key needs the peer's own `key`.
 */
export async function deriveV2Keys(
  material: KeyMaterial,
  keyId: string,
  direction: Direction,
): Promise<EnvelopeKeys> {
  assertKeyMaterial(material, "material");
  assertKeyId(keyId, "keyId");
  assertOneOf(direction, DIRECTIONS, "direction");
  const password = Buffer.from(material.key, "utf8");
  const salt = Buffer.concat([V2_PBKDF2_LABEL, Buffer.from(material.secret, "utf8")]);
  const hkdfSalt = Buffer.from(material.authkey, "utf8");
  const base = await pbkdf2Sha256(password, salt, material.rounds);
  const expand = (purpose: string): KeyObject => {
    const info = Buffer.from(`${V2_HKDF_LABEL}${purpose}\0${direction}\0${keyId}`, "utf8");
    const okm = new Uint8Array(hkdfSync("sha256", base, hkdfSalt, info, 32));
    try {
      return createSecretKey(okm);
    } finally {
      okm.fill(0);
    }
  };
  try {
    return { encryptionKey: expand("enc"), macKey: expand("mac") };
  } finally {
    base.fill(0);
    password.fill(0);
    salt.fill(0);
    hkdfSalt.fill(0);
  }
}

/** What one derivation depends on. */
export interface KeySpec {
  protocol: 1 | 2;
  material: KeyMaterial;
  keyId: string;
  direction: Direction;
}

/** Lets the codec reach the cache without making the lookup part of the public API. */
export const lookupKeys: unique symbol = Symbol("net2ban.lookupKeys");

/** Length-prefixed so that no two different tuples hash alike; hashed so the map holds no secrets. */
function cacheKey(spec: KeySpec): string {
  const { protocol, material } = spec;
  // v1 keys do not depend on key id or direction: one entry serves every codec with the same secrets.
  const parts =
    protocol === 1
      ? ["1", material.key, material.secret, String(material.rounds), material.authkey]
      : [
          "2",
          material.key,
          material.secret,
          String(material.rounds),
          material.authkey,
          spec.keyId,
          spec.direction,
        ];
  const hash = createHash("sha256");
  for (const part of parts) {
    const bytes = Buffer.from(part, "utf8");
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  }
  return hash.digest("base64");
}

/**
 * Derived keys per (version, key, secret, rounds, authkey, key id, direction), so that a server derives
 * each client's keys once per process, across config reloads. Concurrent requests for the same entry
 * share one derivation; a failed derivation is not cached.
 *
 * @example
 * ```ts
 * const cache = new KeyCache();
 * const web1 = await createCodec({ protocol: 2, keyId: "web1", direction: "to-agent", keys, cache });
 * const again = await createCodec({ protocol: 2, keyId: "web1", direction: "to-agent", keys, cache }); // no PBKDF2
 * ```
 */
export class KeyCache {
  readonly #entries = new Map<string, Promise<EnvelopeKeys>>();

  /** Number of cached derivations (including ones in progress). */
  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every derived key (e.g. after a key rotation). */
  clear(): void {
    this.#entries.clear();
  }

  [lookupKeys](spec: KeySpec): Promise<EnvelopeKeys> {
    const id = cacheKey(spec);
    const cached = this.#entries.get(id);
    if (cached !== undefined) return cached;
    const pending = deriveKeys(spec);
    this.#entries.set(id, pending);
    pending.catch(() => {
      if (this.#entries.get(id) === pending) this.#entries.delete(id);
    });
    return pending;
  }
}

/** Derives the envelope keys of `spec` without a cache. */
export function deriveKeys(spec: KeySpec): Promise<EnvelopeKeys> {
  return spec.protocol === 1
    ? deriveLegacyKeys(spec.material)
    : deriveV2Keys(spec.material, spec.keyId, spec.direction);
}
