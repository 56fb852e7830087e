// Which action options a network message may set: the one allowlist that net2banctl, the server and the
// agent each check, so that a message param stays data and never names a program, a file or a tag the
// operator did not hand out.

import { assertObject, assertString, assertStringRecord } from "./assert.js";
import { ParamRefusedError } from "./errors.js";
import { isTicketKey, reservedOptionReason } from "./params.js";

/**
 * Options any message may set, as fail2ban's jails pass them to their actions (`name`, `port`,
 * `protocol`, `chain`; `bantime` and the other ticket values are always allowed). Each has a value
 * grammar below: a plain word that cannot start an option, hold a path or break out of its word.
 */
export const DEFAULT_MESSAGE_OPTIONS: readonly string[] = Object.freeze([
  "name",
  "port",
  "protocol",
  "chain",
]);

/**
 * The values of the default options. fail2ban jail names are section names (`sshd`, `nginx-http-auth`);
 * ports are names, numbers, `a:b` ranges and comma lists; protocols are words like `tcp` or `ipv6-icmp`;
 * chains are iptables/nft chain names (iptables allows 28 characters). None may start with `-` (it would
 * be read as an option by the program it is passed to) or hold `/` (a path).
 */
const DEFAULT_VALUE_GRAMMAR: ReadonlyMap<string, { re: RegExp; expected: string }> = new Map([
  ["name", { re: /^[A-Za-z0-9_][A-Za-z0-9_.@+:-]{0,63}$/, expected: "1-64 of A-Z a-z 0-9 _ . @ + : -" }],
  [
    "port",
    { re: /^[A-Za-z0-9_][A-Za-z0-9_,:-]{0,255}$/, expected: "port names, numbers, a:b ranges, commas" },
  ],
  ["protocol", { re: /^[a-z0-9][a-z0-9-]{0,15}$/, expected: "a protocol word like tcp, udp, all" }],
  ["chain", { re: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, expected: "1-64 of A-Z a-z 0-9 _ . -" }],
]);

/** An option the operator allows messages to set, for every action file or for one (`file:option`). */
export interface AllowedParam {
  /** The action file (without `.conf`) it is allowed for; undefined: every action file. */
  readonly file?: string | undefined;
  readonly option: string;
}

const OPTION_NAME_RE = /^[a-z][a-z0-9_.-]{0,63}$/;
const FILE_NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]|\.(?!\.)){0,63}$/;

/**
 * What a message may set for an action: the ticket values (ip, bantime, failures, matches, F-* ...), the
 * default options with their value grammar, and the options the operator allows (`allow_params`). Any
 * other param is refused, whatever tag it names: an action's program (`iptables`), the file it writes
 * (`file`), the verdict of its rules (`blocktype`, `returntype`) belong to the host's own config.
 */
export class ParamPolicy {
  /** Only the ticket values and the default options. */
  static readonly DEFAULT: ParamPolicy = new ParamPolicy([], "default");

  readonly #anyFile: ReadonlySet<string>;
  readonly #perFile: ReadonlyMap<string, ReadonlySet<string>>;
  /** Where the allowances come from, for refusals: e.g. `allow_params of [global] and [web1]`. */
  readonly source: string;

  private constructor(allowed: readonly AllowedParam[], source: string) {
    const anyFile = new Set<string>();
    const perFile = new Map<string, Set<string>>();
    for (const entry of allowed) {
      if (entry.file === undefined) anyFile.add(entry.option);
      else {
        const set = perFile.get(entry.file) ?? new Set<string>();
        set.add(entry.option);
        perFile.set(entry.file, set);
      }
    }
    this.#anyFile = anyFile;
    this.#perFile = perFile;
    this.source = source;
  }

  /** The default policy plus `allowed`; `source` names where they were configured. TypeError on a bad entry. */
  static of(allowed: readonly AllowedParam[], source: string): ParamPolicy {
    if (!Array.isArray(allowed)) throw new TypeError(`"allowed" expected an array`);
    assertString(source, "source");
    allowed.forEach((entry, index) => {
      assertObject(entry, `allowed[${index}]`);
      assertString(entry.option, `allowed[${index}].option`);
      if (!OPTION_NAME_RE.test(entry.option) || isTicketKey(entry.option)) {
        throw new TypeError(
          `"allowed[${index}].option" expected a lower-case option name, got "${entry.option}"`,
        );
      }
      if (entry.option.startsWith("action") || entry.option === "norestored") {
        throw new TypeError(
          `"allowed[${index}].option" "${entry.option}" is an operation of the action file`,
        );
      }
      if (entry.file !== undefined && (typeof entry.file !== "string" || !FILE_NAME_RE.test(entry.file))) {
        throw new TypeError(`"allowed[${index}].file" expected an action file name`);
      }
    });
    return allowed.length === 0 && source === "default"
      ? ParamPolicy.DEFAULT
      : new ParamPolicy(allowed, source);
  }

  /** Whether messages may set `option` for action file `file` (ticket values and defaults included). */
  allows(file: string, option: string): boolean {
    return (
      isTicketKey(option) ||
      DEFAULT_VALUE_GRAMMAR.has(option) ||
      this.#anyFile.has(option) ||
      this.#perFile.get(file)?.has(option) === true
    );
  }

  /**
   * The first param of `params` this policy refuses for action file `file`, as the error to throw or log;
   * undefined when every param may be set. Checks names and the default options' values only: the
   * engine's own checks (validateParams, positions) come on top on the agent.
   */
  refusal(file: string, params: Readonly<Record<string, string>>): ParamRefusedError | undefined {
    assertString(file, "file");
    assertObject(params, "params");
    // one pass: each value checked as it is read (batches check thousands of requests)
    for (const key of Object.keys(params)) {
      const value: unknown = params[key];
      if (typeof value !== "string") {
        assertStringRecord(params, "params"); // throws, naming the key
        continue;
      }
      if (isTicketKey(key)) continue;
      const grammar = DEFAULT_VALUE_GRAMMAR.get(key);
      if (grammar !== undefined) {
        if (!grammar.re.test(value)) {
          return new ParamRefusedError(key, `expected ${grammar.expected}, got ${JSON.stringify(value)}`);
        }
        continue;
      }
      if (this.#anyFile.has(key) || this.#perFile.get(file)?.has(key) === true) continue;
      const reserved = reservedOptionReason(key);
      if (reserved !== undefined) return new ParamRefusedError(key, reserved);
      return new ParamRefusedError(
        key,
        `not an option a message may set for ${file} (${this.source}; allow it with allow_params = ${file}:${key})`,
      );
    }
    return undefined;
  }

  /** Throws the refusal of `params` for `file` (ParamRefusedError naming the param), if any. */
  assertAllowed(file: string, params: Readonly<Record<string, string>>): void {
    const refused = this.refusal(file, params);
    if (refused !== undefined) throw refused;
  }
}
