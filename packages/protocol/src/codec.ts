// The codec the apps use: one peer, one direction, keys derived once; seal and open are synchronous.
import { isUtf8 } from "node:buffer";
import { type KeyObject, randomFillSync } from "node:crypto";
import { assertBytes, assertFunction, assertObject, assertOneOf, assertString, describe } from "./assert.js";
import { IV_BYTES, openV1, sealV1 } from "./envelope-v1.js";
import { encodeV2Header, openV2, sealV2 } from "./envelope-v2.js";
import { MessageRejectedError } from "./errors.js";
import {
  assertKeyId,
  assertKeyMaterial,
  DIRECTIONS,
  type Direction,
  deriveKeys,
  type EnvelopeKeys,
  KeyCache,
  type KeyMaterial,
  lookupKeys,
} from "./keys.js";
import {
  describeIssue,
  type LegacyMessage,
  legacyMessageSchema,
  type Message,
  messageSchema,
  type Net2banMessage,
  parseMessage,
} from "./messages.js";
import { encodePythonJson } from "./python-json.js";
import { deriveStableIvKey, stableIv } from "./stable-iv.js";

/** What createCodec needs: which wire, whose keys, which way. */
export interface CodecOptions {
  /** 1 = the legacy wire of the Python original, 2 = the current one. */
  protocol: 1 | 2;
  /** The peer whose key is used: a client name, or "server" for requests to the server. */
  keyId: string;
  direction: Direction;
  keys: KeyMaterial;
  /** Share derivations between codecs (a server: one per client, kept across reloads). */
  cache?: KeyCache;
  /** Source of IVs (called once per seal); default: node:crypto, drawn 16 IVs at a time. */
  randomBytes?: (size: number) => Uint8Array;
}

/** How `seal` picks the IV: random (default), given (`iv`, tests and vectors) or stable (`stableFor`). */
export interface SealOptions {
  /** A fixed 16-byte IV, for test vectors only: a repeated IV with another plaintext leaks its equality. */
  iv?: Uint8Array;
  /**
   * The request's identity (a server passes the replay key of the request it forwards): the IV is
   * derived from the recipient's key, this and the plaintext, so sealing the same request again gives
   * the same bytes, which a v1 receiver's replay memory then recognises.
   */
  stableFor?: string;
}

/** Longest `stableFor` (characters): a message id or a replay key is far shorter. */
const MAX_STABLE_FOR = 1024;

/** A message that passed the envelope and the schemas, and the key a replay check remembers it by. */
export interface OpenedMessage {
  message: Net2banMessage;
  /** v2: the message id; v1 (which has none): the MAC hex, unique per sealed message. */
  replayKey: string;
}

/** Seals and opens the messages of one peer and direction; keys are derived once, at creation. */
export interface Codec {
  readonly protocol: 1 | 2;
  readonly keyId: string;
  readonly direction: Direction;
  /**
   * Encrypts and authenticates `message`. On v1 a v2 message is converted to the legacy shape (id,
   * sender, expires and to are dropped). Throws TypeError for a message the schemas or this direction
   * do not allow.
   *
   * `stableFor` names the request the message carries (a server passes the replay key of the input it
   * forwards): sealing the same message with the same `stableFor` again returns the same bytes, so a
   * peer that knows messages by their bytes (v1) sees a re-forward as the copy it is. The IV is then a
   * keyed hash of recipient, `stableFor` and plaintext instead of random (stable-iv.ts says why that
   * is as safe for CBC).
   */
  seal(message: Net2banMessage, opts?: SealOptions): Buffer;
  /** Authenticates, decrypts and validates `wire`; any failure is a MessageRejectedError. */
  open(wire: Uint8Array): OpenedMessage;
}

/**
 * IVs from a small pool of CSPRNG output: one randomFillSync per 16 IVs instead of one per message
 * (it is ~15% of a seal + open otherwise). The pool never leaves the codec and each IV is used once, so
 * IVs stay unpredictable, which is what CBC needs. Callers use the IV synchronously, before the next refill.
 */
function ivPool(): () => Uint8Array {
  const pool = Buffer.alloc(IV_BYTES * 16);
  let offset = pool.length;
  return () => {
    if (offset === pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const iv = pool.subarray(offset, offset + IV_BYTES);
    offset += IV_BYTES;
    return iv;
  };
}

/** Lets ./testing seal arbitrary bytes without making it part of the Codec interface. */
export const sealPlaintextBytes: unique symbol = Symbol("net2ban.sealPlaintextBytes");

/**
 * Commands each direction carries: requests go to the server, commands to agents, results and digests
 * come back from agents, and the server answers net2banctl (`--wait`, `status`) from-server.
 */
const COMMANDS: Readonly<Record<Direction, readonly string[]>> = {
  "to-server": ["exec", "update", "ban", "unban", "status"],
  "to-agent": ["exec", "update", "apply", "sync"],
  "from-agent": ["result", "digest"],
  "from-server": ["accepted", "result", "state"],
};

class EnvelopeCodec implements Codec {
  readonly protocol: 1 | 2;
  readonly keyId: string;
  readonly direction: Direction;
  readonly #keys: EnvelopeKeys;
  readonly #header: Buffer;
  readonly #nextIv: () => Uint8Array;
  readonly #commands: readonly string[];
  #stableIvKey: KeyObject | undefined;

  constructor(options: CodecOptions, keys: EnvelopeKeys) {
    this.protocol = options.protocol;
    this.keyId = options.keyId;
    this.direction = options.direction;
    this.#keys = keys;
    this.#header = encodeV2Header(options.direction, options.keyId);
    const randomBytes = options.randomBytes;
    this.#nextIv = randomBytes === undefined ? ivPool() : () => randomBytes(IV_BYTES);
    this.#commands = COMMANDS[options.direction];
  }

  seal(message: Net2banMessage, opts?: SealOptions): Buffer {
    assertObject(message, "message");
    const stableFor = opts?.stableFor;
    if (stableFor !== undefined) {
      assertString(stableFor, "opts.stableFor");
      if (stableFor.length === 0 || stableFor.length > MAX_STABLE_FOR) {
        throw new TypeError(
          `"opts.stableFor" expected 1 to ${MAX_STABLE_FOR} characters, got ${stableFor.length}`,
        );
      }
      if (opts?.iv !== undefined) throw new TypeError(`"opts" expected iv or stableFor, not both`);
    }
    const requested: unknown = message.cmd;
    if (typeof requested !== "string" || !this.#commands.includes(requested)) {
      const cmd =
        typeof requested === "string" ? JSON.stringify(requested.slice(0, 40)) : describe(requested);
      throw new TypeError(
        `"message.cmd" ${cmd} is not sent ${this.direction}; expected ${this.#commands.join(" or ")}`,
      );
    }
    let plaintext: string;
    if (this.protocol === 1) plaintext = encodePythonJson(toLegacyWireOrder(message));
    else {
      const checked = messageSchema.safeParse(message);
      if (!checked.success) {
        throw new TypeError(`"message" ${describeIssue(checked.error)}`, { cause: checked.error });
      }
      plaintext = JSON.stringify(checked.data);
    }
    const bytes = Buffer.from(plaintext, "utf8");
    if (stableFor === undefined) return this[sealPlaintextBytes](bytes, opts?.iv);
    this.#stableIvKey ??= deriveStableIvKey(this.#keys.encryptionKey);
    const iv = stableIv(this.#stableIvKey, {
      direction: this.direction,
      keyId: this.keyId,
      identity: stableFor,
      plaintext: bytes,
    });
    return this[sealPlaintextBytes](bytes, iv);
  }

  /** Seals bytes as given: the step after validation, reachable unvalidated only from ./testing. */
  [sealPlaintextBytes](plaintext: Uint8Array, givenIv: Uint8Array | undefined): Buffer {
    let iv: Uint8Array;
    if (givenIv === undefined) {
      iv = this.#nextIv();
      assertBytes(iv, "randomBytes()", IV_BYTES);
    } else {
      assertBytes(givenIv, "opts.iv", IV_BYTES);
      iv = givenIv;
    }
    return this.protocol === 1
      ? sealV1(this.#keys, plaintext, iv)
      : sealV2(this.#keys, this.#header, plaintext, iv);
  }

  open(wire: Uint8Array): OpenedMessage {
    assertBytes(wire, "wire");
    let plaintext: Buffer;
    let replayKey: string | undefined;
    if (this.protocol === 1) {
      const opened = openV1(this.#keys, wire);
      plaintext = opened.plaintext;
      replayKey = opened.macHex;
    } else {
      plaintext = openV2(this.#keys, this.#header, wire);
    }
    if (!isUtf8(plaintext)) throw new MessageRejectedError("bad-utf8");
    let json: unknown;
    try {
      json = JSON.parse(plaintext.toString("utf8"));
    } catch (error) {
      throw new MessageRejectedError("bad-json", undefined, { cause: error });
    }
    const message = parseMessage(json, this.protocol);
    if (!this.#commands.includes(message.cmd)) {
      throw new MessageRejectedError("wrong-command", `${message.cmd} is not sent ${this.direction}`);
    }
    // A result or digest is authenticated by its client's key, so it may only speak for that client.
    // (The server forwards results to net2banctl under its own key: there `client` names the host.)
    if (
      this.direction === "from-agent" &&
      (message.cmd === "result" || message.cmd === "digest") &&
      message.client !== this.keyId
    ) {
      throw new MessageRejectedError(
        "wrong-key-id",
        `${message.cmd} for client ${message.client} under key ${this.keyId}`,
      );
    }
    return { message, replayKey: replayKey ?? (message as Message & { id: string }).id };
  }
}

/**
 * The legacy plaintext object, in the key order of the original's output (CPython 2.7 dict order
 * for these keys), validated so that a v2-only or malformed message cannot go out as v1.
 */
function toLegacyWireOrder(
  message: Net2banMessage,
): Record<string, string | number | Record<string, string>> {
  if (message.cmd !== "exec" && message.cmd !== "update") {
    throw new TypeError(`"message.cmd" ${JSON.stringify(message.cmd)} has no v1 form`);
  }
  const checked = legacyMessageSchema.safeParse(message);
  if (!checked.success) {
    throw new TypeError(`"message" ${describeIssue(checked.error)}`, { cause: checked.error });
  }
  const legacy: LegacyMessage = checked.data;
  if (legacy.cmd === "exec") {
    return {
      action: legacy.action,
      timestamp: legacy.timestamp,
      cmd: legacy.cmd,
      params: legacy.params,
      file: legacy.file,
    };
  }
  return {
    content: legacy.content,
    timestamp: legacy.timestamp,
    cmd: legacy.cmd,
    file: legacy.file,
    client: legacy.client,
  };
}

/**
 * Creates the codec of one peer and direction. Derives the keys (PBKDF2, so this takes milliseconds)
 * or takes them from `cache`; seal and open then never derive or import a key again.
 *
 * @example
 * ```ts
 * // [server] key, and secret / rounds / authkey as net2ban.cfg resolves them for [server]
 * const keys = { key: "server key", secret: "secret", rounds: 12000, authkey: "authkey" };
 * const codec = await createCodec({ protocol: 2, keyId: "server", direction: "to-server", keys });
 * const wire = codec.seal(createExecBanRequest({ ip: "203.0.113.9", name: "sshd" }));
 * const { message, replayKey } = codec.open(wire); // the server's side, with the same options
 * ```
 */
export async function createCodec(options: CodecOptions): Promise<Codec> {
  assertObject(options, "options");
  assertOneOf(options.protocol, [1, 2] as const, "protocol");
  assertKeyId(options.keyId, "keyId");
  assertOneOf(options.direction, DIRECTIONS, "direction");
  assertKeyMaterial(options.keys, "keys");
  if (options.cache !== undefined && !(options.cache instanceof KeyCache)) {
    throw new TypeError(`"cache" expected a KeyCache, got ${describe(options.cache)}`);
  }
  if (options.randomBytes !== undefined) assertFunction(options.randomBytes, "randomBytes");
  // Copy the four fields: callers pass whole config objects, and the cache must not key on the rest.
  const { key, secret, rounds, authkey } = options.keys;
  const spec = {
    protocol: options.protocol,
    material: { key, secret, rounds, authkey },
    keyId: options.keyId,
    direction: options.direction,
  };
  const keys = await (options.cache === undefined ? deriveKeys(spec) : options.cache[lookupKeys](spec));
  return new EnvelopeCodec(options, keys);
}
