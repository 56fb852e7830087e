// Every net2ban.cfg key: the sections that read it, its default, and the zod schema that turns the
// raw string into a typed value or into the one-line complaint an operator sees.

import { z } from "zod";
import { parseAddressRange, splitIgnoreIp } from "./allowlist.js";
import { DurationError, parseDurationSeconds } from "./duration.js";
import { ipFamily } from "./ip.js";

/**
 * The kinds of section a key can be read from: `publisher` is every `[publisher:NAME]` section, `client`
 * every section but those and the three named ones.
 */
export type SectionKind = "global" | "server" | "client" | "keygen" | "publisher";

export const RESERVED_SECTIONS = ["global", "server", "keygen"] as const;

/** `[publisher:NAME]`: a host or tool that sends requests under its own key, with its own rights. */
export const PUBLISHER_SECTION_PREFIX = "publisher:";

/** The commands a publisher may be given (`commands`). */
export const PUBLISHER_COMMANDS = ["ban", "unban", "exec", "update", "status"] as const;
export type PublisherCommand = (typeof PUBLISHER_COMMANDS)[number];

/** Where the agent looks for action files when `actions_dir` is not set: the first that exists. */
export const DEFAULT_ACTIONS_DIRS: readonly string[] = [
  "/etc/net2ban/action.d",
  "/usr/share/net2ban/actions",
];
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** RabbitMQ refuses queue names over 255 bytes and reserves the `amq.` prefix. */
export const MAX_QUEUE_NAME_BYTES = 255;
// PBKDF2 in node:crypto takes at most 2^31 - 1 iterations; timers overflow past 2^31 - 1 ms.
const MAX_INT32 = 2_147_483_647;

function rule<T>(check: (raw: string) => T | { problem: string }): z.ZodType<T, string> {
  return z.string().transform((raw, ctx) => {
    const result = check(raw);
    if (typeof result === "object" && result !== null && "problem" in result) {
      ctx.addIssue({ code: "custom", message: result.problem });
      return z.NEVER;
    }
    return result as T;
  });
}

const got = (raw: string) => JSON.stringify(raw);

function integer(min: number, max: number): z.ZodType<number, string> {
  const expected = min === 0 ? "a non-negative integer" : "a positive integer";
  return rule((raw) => {
    if (!/^[0-9]+$/.test(raw)) return { problem: `expected ${expected}, got ${got(raw)}` };
    const value = Number(raw);
    if (value < min) return { problem: `expected ${expected}, got ${got(raw)}` };
    if (value > max) return { problem: `expected at most ${max}, got ${got(raw)}` };
    return value;
  });
}

function oneOf<const T extends string>(allowed: readonly T[], foldCase: boolean): z.ZodType<T, string> {
  const list = allowed.map((a) => JSON.stringify(a));
  const expected = list.length === 2 ? `${list[0]} or ${list[1]}` : `one of ${list.join(", ")}`;
  return rule((raw) => {
    const value = foldCase ? raw.toLowerCase() : raw;
    return (allowed as readonly string[]).includes(value)
      ? (value as T)
      : { problem: `expected ${expected}, got ${got(raw)}` };
  });
}

/** A yes/no value as Python's ConfigParser.getboolean reads it (1 yes true on / 0 no false off, any case). */
const yesNo = rule((raw) => {
  const value = raw.toLowerCase();
  if (["1", "yes", "true", "on"].includes(value)) return true;
  if (["0", "no", "false", "off"].includes(value)) return false;
  return { problem: `expected yes or no, got ${got(raw)}` };
});

// Keys, secrets and passwords are never echoed back in messages.
const secretText = rule((raw) => (raw === "" ? { problem: "must not be empty" } : raw));

const absolutePath = rule((raw) =>
  raw.startsWith("/") ? raw : { problem: `expected an absolute path, got ${got(raw)}` },
);

/** The URL as an operator may see it in a message: any password replaced by `***`. */
export function redactUrl(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, "$1***@");
}

const brokerHost = rule((raw) => {
  const host = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  if (ipFamily(host) === 6) return `[${host}]`;
  if (/^[A-Za-z0-9_.-]+$/.test(host) && !host.startsWith(".") && !host.startsWith("-")) return host;
  return { problem: `expected a host name or IP address of the RabbitMQ server, got ${got(raw)}` };
});

const brokerUrls = rule((raw) => {
  const urls = raw.split(",").map((u) => u.trim());
  for (const url of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (
      parsed === undefined ||
      (parsed.protocol !== "amqp:" && parsed.protocol !== "amqps:") ||
      parsed.hostname === ""
    ) {
      return { problem: `expected amqp:// or amqps:// URLs separated by commas, got ${got(redactUrl(url))}` };
    }
  }
  return urls;
});

/**
 * An exchange net2ban publishes through. RabbitMQ reserves `amq.` and allows names up to 255 bytes; the
 * characters are the ones its management UI and tools accept without quoting.
 */
const exchangeName = rule((raw) => {
  if (!/^[A-Za-z0-9_.:-]+$/.test(raw)) {
    return { problem: `expected an exchange name of letters, digits, "_", "-", "." or ":", got ${got(raw)}` };
  }
  if (raw.startsWith("amq.")) return { problem: `${got(raw)} starts with "amq.", which RabbitMQ reserves` };
  if (raw.length > MAX_QUEUE_NAME_BYTES) return { problem: `expected at most ${MAX_QUEUE_NAME_BYTES} bytes` };
  return raw;
});

// fail2ban's ignoreip also takes host names and netmasks; net2ban resolves nothing at ban time and keeps
// one spelling per block, so a name is an error here rather than a silent hole in the guard.
const ignoreIp = rule((raw) => {
  const values = splitIgnoreIp(raw);
  for (const value of values) {
    if (parseAddressRange(value) === undefined) {
      return {
        problem: `expected IPv4/IPv6 addresses or CIDRs separated by spaces or commas, got ${got(value)} (host names and netmasks are not accepted)`,
      };
    }
  }
  return values;
});

/** One entry of `allow_params`: an option messages may set, for every action file or for one (`file:option`). */
export interface AllowedParamEntry {
  file?: string;
  option: string;
}

const ALLOWED_OPTION_RE = /^[a-z][a-z0-9_.-]{0,63}$/;
const ACTION_FILE_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]|\.(?!\.)){0,63}$/;

/**
 * `allow_params`: options (`blocktype`) or per-file options (`iptables-multiport:blocktype`) separated by
 * spaces or commas. An operation (`action...`, `norestored`) is never a param; ticket values and the
 * default options need no entry.
 */
const allowParams = rule((raw) => {
  const entries: AllowedParamEntry[] = [];
  for (const word of raw.split(/[\s,]+/).filter((w) => w !== "")) {
    const colon = word.indexOf(":");
    const file = colon === -1 ? undefined : word.slice(0, colon);
    const option = colon === -1 ? word : word.slice(colon + 1);
    if (file !== undefined && !ACTION_FILE_RE.test(file)) {
      return { problem: `expected an action file name before ":", got ${got(word)}` };
    }
    if (!ALLOWED_OPTION_RE.test(option)) {
      return {
        problem: `expected lower-case option names (or file:option) separated by commas, got ${got(word)}`,
      };
    }
    if (option.startsWith("action") || option === "norestored") {
      return { problem: `${got(option)} is an operation of the action file: a message may never set it` };
    }
    entries.push(file === undefined ? { option } : { file, option });
  }
  return entries;
});

/** A ban duration: seconds, or null for a ban without end (`permanent`, fail2ban's `-1`). */
const banTime = rule((raw): number | null | { problem: string } => {
  try {
    return parseDurationSeconds(raw, { permanent: true });
  } catch (error) {
    if (error instanceof DurationError) return { problem: error.message };
    throw error;
  }
});

/** A period of at least a tenth of a second (`60s`, `5m`). */
const interval = rule((raw): number | { problem: string } => {
  try {
    const seconds = parseDurationSeconds(raw);
    return seconds < 0.1 ? { problem: `expected at least 0.1s, got ${got(raw)}` } : seconds;
  } catch (error) {
    if (error instanceof DurationError) return { problem: error.message };
    throw error;
  }
});

/** Where a daemon serves Prometheus metrics. */
export interface MetricsAddress {
  /** Address to listen on: an IPv4/IPv6 address or a host name. */
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `:port` (every address) for the metrics endpoint. */
const metricsAddress = rule((raw): MetricsAddress | { problem: string } => {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]*)):([0-9]{1,5})$/.exec(raw.trim());
  const port = match === null ? Number.NaN : Number(match[3]);
  if (match === null || !(port >= 1 && port <= 65_535)) {
    return { problem: `expected host:port (e.g. 127.0.0.1:9464, [::1]:9464 or :9464), got ${got(raw)}` };
  }
  const v6 = match[1];
  if (v6 !== undefined && ipFamily(v6) !== 6) return { problem: `${got(v6)} is not an IPv6 address` };
  return { host: v6 ?? (match[2] === "" ? "0.0.0.0" : (match[2] ?? "0.0.0.0")), port };
});

/** `udp://host:port` or `tcp://host:port` (port default 514): where `log = syslog` sends its lines. */
const syslogAddress = rule((raw) => {
  const match = /^(udp|tcp):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::([0-9]{1,5}))?\/?$/i.exec(raw.trim());
  const port = match?.[3] === undefined ? 514 : Number(match[3]);
  if (match === null || !(port >= 1 && port <= 65_535)) {
    return { problem: `expected udp://host:port or tcp://host:port, got ${got(raw)}` };
  }
  return `${match[1]!.toLowerCase()}://${match[2]}:${port}`;
});

/** Words separated by spaces or commas; `*` alone: any. */
function wordList(word: RegExp, what: string): z.ZodType<string[] | "*", string> {
  return rule((raw) => {
    const words = raw.split(/[\s,]+/).filter((w) => w !== "");
    if (words.length === 1 && words[0] === "*") return "*" as const;
    for (const w of words) {
      if (!word.test(w)) return { problem: `expected ${what} separated by commas (or *), got ${got(w)}` };
    }
    return [...new Set(words)];
  });
}

const commandList = rule((raw): PublisherCommand[] | { problem: string } => {
  const words = raw.split(/[\s,]+/).filter((w) => w !== "");
  for (const w of words) {
    if (!(PUBLISHER_COMMANDS as readonly string[]).includes(w)) {
      return {
        problem: `expected commands of ${PUBLISHER_COMMANDS.join(", ")} separated by commas, got ${got(w)}`,
      };
    }
  }
  return [...new Set(words)] as PublisherCommand[];
});

/** A positive number of bans per minute. */
const perMinute = rule((raw) => {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1_000_000) {
    return { problem: `expected bans per minute, an integer from 1 to 1000000, got ${got(raw)}` };
  }
  return Number(raw);
});

const lowerCased = rule((raw) => raw.toLowerCase());
const inputQueue = rule((raw) => (raw === "" ? { problem: "must not be empty" } : raw.toLowerCase()));

export interface KeySpec<T> {
  sections: readonly SectionKind[];
  schema: z.ZodType<T, string>;
  /** The default as written in the file, or undefined when the key is required or has no default. */
  default?: string;
  /** One line for docs and `--help`-style listings. */
  summary: string;
}

const GLOBAL: readonly SectionKind[] = ["global"];
const PEER_WITH_GLOBAL: readonly SectionKind[] = ["global", "server", "client", "publisher"];
const PEER: readonly SectionKind[] = ["server", "client", "publisher"];
const PUBLISHER: readonly SectionKind[] = ["publisher"];

function spec<T>(s: KeySpec<T>): KeySpec<T> {
  return s;
}

/**
 * The keys net2ban reads. Peer keys (`PEER_WITH_GLOBAL`) are looked up in the peer's own section,
 * then [global], then the default; [DEFAULT] entries count as present in every section, as in Python.
 */
export const CONFIG_KEYS = {
  server: spec({
    sections: GLOBAL,
    schema: brokerHost,
    summary: "host or IP of the RabbitMQ server (port 5672, guest/guest)",
  }),
  url: spec({
    sections: ["global", "server", "client", "publisher"],
    schema: brokerUrls,
    summary:
      "amqp:// or amqps:// broker URL(s), comma-separated nodes of one cluster; in a peer's section, that peer's own login",
  }),
  ctl_url: spec({
    sections: GLOBAL,
    schema: brokerUrls,
    summary: "broker URL(s) net2banctl publishes with (default: url); a publish-only login",
  }),
  input_exchange: spec({
    sections: GLOBAL,
    schema: exchangeName,
    summary: "direct exchange bound to the input queue; net2banctl publishes through it (default: none)",
  }),
  dead_letter_exchange: spec({
    sections: GLOBAL,
    schema: exchangeName,
    summary: "topic exchange rejected messages are copied through to <queue>.dead (default: none)",
  }),
  mode: spec({
    sections: GLOBAL,
    schema: oneOf(["server", "client", "publisher"], true),
    summary: "what this host runs: server or client (publisher: a file from net2banctl get_publisher)",
  }),
  queue_prefix: spec({
    sections: GLOBAL,
    schema: lowerCased,
    default: "net2ban_",
    summary: "a client's queue is this prefix + its section name",
  }),
  rounds: spec({
    sections: PEER_WITH_GLOBAL,
    schema: integer(1, MAX_INT32),
    summary: "PBKDF2 rounds for the session key",
  }),
  secret: spec({
    sections: PEER_WITH_GLOBAL,
    schema: secretText,
    summary: "shared secret (PBKDF2 salt), same on both ends",
  }),
  authkey: spec({
    sections: PEER_WITH_GLOBAL,
    schema: secretText,
    summary: "HMAC-SHA256 key of every message",
  }),
  valid_wtime: spec({
    sections: PEER_WITH_GLOBAL,
    schema: integer(1, MAX_INT32),
    default: "3600",
    summary: "seconds a message stays valid",
  }),
  protocol: spec({
    sections: PEER_WITH_GLOBAL,
    schema: oneOf(["1", "2"], false),
    default: "2",
    summary: "message format: 1 (original) or 2",
  }),
  queue_type: spec({
    sections: ["global", "server", "client"],
    schema: oneOf(["classic", "quorum"], true),
    default: "classic",
    summary: "RabbitMQ queue type",
  }),
  key: spec({ sections: PEER, schema: secretText, summary: "this peer's own key (PBKDF2 password)" }),
  input: spec({
    sections: ["server", "publisher"],
    schema: inputQueue,
    default: "input_net2ban",
    summary: "the server's input queue",
  }),
  keylen: spec({
    sections: ["keygen"],
    schema: integer(1, 4096),
    default: "40",
    summary: "length of keys made by net2banctl gen_random",
  }),
  actions_dir: spec({
    sections: GLOBAL,
    schema: absolutePath,
    summary: "directory of action files (default: first existing of the candidates)",
  }),
  state_dir: spec({
    sections: GLOBAL,
    schema: absolutePath,
    default: "/var/lib/net2ban",
    summary: "directory for state kept across restarts",
  }),
  tls_ca: spec({ sections: GLOBAL, schema: absolutePath, summary: "CA certificate file for amqps://" }),
  tls_cert: spec({ sections: GLOBAL, schema: absolutePath, summary: "client certificate file for amqps://" }),
  tls_key: spec({ sections: GLOBAL, schema: absolutePath, summary: "client private key file for amqps://" }),
  heartbeat: spec({
    sections: GLOBAL,
    schema: integer(0, 65_535),
    default: "30",
    summary: "AMQP heartbeat in seconds (0 disables)",
  }),
  prefetch: spec({
    sections: GLOBAL,
    schema: integer(1, 65_535),
    default: "16",
    summary: "unacknowledged messages per consumer",
  }),
  log: spec({
    sections: GLOBAL,
    schema: oneOf(["stdout", "syslog", "journal"], true),
    default: "stdout",
    summary: "where logs go (stdout: with journald's priority prefix when stdout is the journal)",
  }),
  log_format: spec({
    sections: GLOBAL,
    schema: oneOf(["json", "text"], true),
    default: "json",
    summary: "stdout lines: pino JSON, or text (time LEVEL msg key=value ...)",
  }),
  syslog_address: spec({
    sections: GLOBAL,
    schema: syslogAddress,
    default: "udp://127.0.0.1:514",
    summary: "where log = syslog sends: udp://host:port or tcp://host:port (octet-counted)",
  }),
  log_level: spec({
    sections: GLOBAL,
    schema: oneOf(LOG_LEVELS, true),
    default: "info",
    summary: "pino log level",
  }),
  ignoreip: spec({
    sections: ["global", "server", "client"],
    schema: ignoreIp,
    summary:
      "addresses and CIDRs never banned (added to [global]'s; loopback, broker and own addresses always)",
  }),
  action_timeout: spec({
    sections: GLOBAL,
    schema: integer(1, 2_147_483),
    default: "60",
    summary: "seconds before an action command is killed",
  }),
  bantime: spec({
    sections: ["global", "server"],
    schema: banTime,
    default: "10m",
    summary: "how long a ban lasts when the request gives no duration (permanent: no end)",
  }),
  drift_interval: spec({
    sections: GLOBAL,
    schema: interval,
    default: "60s",
    summary: "how often each agent checks its bans and reports their digest to the server",
  }),
  allow_update: spec({
    sections: ["global", "client"],
    schema: yesNo,
    default: "yes",
    summary: "whether this agent installs action files sent by `net2banctl update` (no: refused, logged)",
  }),
  allow_params: spec({
    sections: ["global", "server", "client", "publisher"],
    schema: allowParams,
    summary:
      "action options a message may set besides name, port, protocol, chain and the ticket (option or file:option; added to [global]'s)",
  }),
  metrics: spec({
    sections: ["global", "server", "client"],
    schema: metricsAddress,
    summary: "host:port of the Prometheus endpoint (default: none)",
  }),
  accept_server_key: spec({
    sections: ["server"],
    schema: yesNo,
    default: "yes",
    summary: "whether the server takes requests sealed with the [server] key (no: only publishers' keys)",
  }),
  commands: spec({
    sections: PUBLISHER,
    schema: commandList,
    default: "ban, unban",
    summary: "what a publisher may ask: ban, unban, exec, update, status",
  }),
  actions: spec({
    sections: PUBLISHER,
    schema: wordList(ACTION_FILE_RE, "action file names"),
    default: "iptables-multiport",
    summary: "action files a publisher's requests may use (*: any)",
  }),
  operations: spec({
    sections: PUBLISHER,
    schema: wordList(/^[a-z][a-z0-9_]{0,63}$/, "operations like actionban"),
    default: "actionban, actionunban",
    summary: "operations of the action files a publisher's exec may run (*: any)",
  }),
  to: spec({
    sections: PUBLISHER,
    schema: wordList(/^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$/, "client names"),
    default: "*",
    summary: "clients a publisher's requests may reach (*: every client)",
  }),
  max_bantime: spec({
    sections: PUBLISHER,
    schema: banTime,
    summary: "longest ban a publisher may ask for (default: no limit; permanent allows bans without end)",
  }),
  rate: spec({
    sections: PUBLISHER,
    schema: perMinute,
    summary: "bans per minute a publisher may ask for (default: no limit)",
  }),
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export type ConfigValue<K extends ConfigKey> = z.output<(typeof CONFIG_KEYS)[K]["schema"]>;

export function isConfigKey(name: string): name is ConfigKey {
  return Object.hasOwn(CONFIG_KEYS, name);
}

/** The per-peer keys: may be set in [server] and in each client section. */
export const PEER_KEYS: readonly ConfigKey[] = (Object.keys(CONFIG_KEYS) as ConfigKey[]).filter((k) =>
  CONFIG_KEYS[k].sections.includes("client"),
);

/** The keys a publisher section reads. */
export const PUBLISHER_KEYS: readonly ConfigKey[] = (Object.keys(CONFIG_KEYS) as ConfigKey[]).filter((k) =>
  CONFIG_KEYS[k].sections.includes("publisher"),
);
