// Turns a parsed net2ban.cfg into the typed Net2banConfig the apps run on: per-section lookup with
// the original's fallbacks, validation collecting every problem, and client listing.

import { basename } from "node:path";
import { Allowlist } from "./allowlist.js";
import { assertObject, assertString } from "./assert.js";
import { ConfigError } from "./errors.js";
import {
  type IniDocument,
  type IniEntry,
  IniSyntaxError,
  InterpolationError,
  interpolate,
  parseIni,
} from "./ini.js";
import {
  type AllowedParamEntry,
  CONFIG_KEYS,
  type ConfigKey,
  type ConfigValue,
  DEFAULT_ACTIONS_DIRS,
  isConfigKey,
  MAX_QUEUE_NAME_BYTES,
  type MetricsAddress,
  PUBLISHER_SECTION_PREFIX,
  type PublisherCommand,
  RESERVED_SECTIONS,
  type SectionKind,
} from "./schema.js";

/** What one end of a conversation needs: the server's input side or one client. */
export interface PeerConfig {
  /** Section name: "server" or the client's name. */
  name: string;
  key: string;
  secret: string;
  rounds: number;
  authkey: string;
  validWindowSeconds: number;
  protocol: 1 | 2;
  /** Server: `[server] input`; client: `queue_prefix` + name. */
  queue: string;
  queueType: "classic" | "quorum";
  /**
   * The peer's own broker login, from `url` in its own section: set when each peer has its own
   * RabbitMQ user (`net2banctl rabbitmq-setup`). Absent: the peer uses `broker.urls`.
   */
  urls?: string[];
  /**
   * Clients: `allow_update = no` in the client's section or [global]: the agent refuses action files sent
   * by `net2banctl update` (whoever holds the [server] key could otherwise run commands on it). Absent: allowed.
   */
  allowUpdate?: false;
}

/**
 * What a publisher (`[publisher:NAME]`) may ask of the server. Checked at the server on every request
 * sealed with the publisher's key; `"*"` is any.
 */
export interface PublisherRights {
  commands: readonly PublisherCommand[];
  /** Action files its ban, unban, exec and update may name. */
  actions: readonly string[] | "*";
  /** Operations its exec may run. */
  operations: readonly string[] | "*";
  /** Clients its requests may reach; a request without `to` reaches these. */
  to: readonly string[] | "*";
  /** Longest ban in seconds (null: bans without end allowed); undefined: no limit. */
  maxBanTimeSeconds?: number | null;
  /** Bans per minute; undefined: no limit. */
  ratePerMinute?: number;
}

/** A host or tool that sends requests under its own key (`[publisher:NAME]`). */
export interface PublisherConfig {
  /** NAME of `[publisher:NAME]`: the key id of its requests, named in every log line and ledger entry. */
  name: string;
  key: string;
  secret: string;
  rounds: number;
  authkey: string;
  validWindowSeconds: number;
  /** Publishers need protocol 2: protocol 1 has no key id to tell them apart. */
  protocol: 2;
  /** The server's input queue (`input` in an exported publisher file, else [server] input). */
  queue: string;
  /** Its own broker login (`url` in its section, made by `net2banctl rabbitmq-setup`). */
  urls?: string[];
  rights: PublisherRights;
}

export interface BrokerConfig {
  /** Nodes of one cluster, tried in order ([global] url or server). */
  urls: string[];
  /** What net2banctl publishes with ([global] ctl_url); absent: `urls`. */
  ctlUrls?: string[];
  /** Direct exchange bound to the input queue; net2banctl publishes through it when set. */
  inputExchange?: string;
  /** Topic exchange that dead-letter copies go through (to `<queue>.dead`) when set. */
  deadLetterExchange?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  heartbeatSeconds: number;
  prefetch: number;
}

export interface Net2banConfig {
  /** The file as given to parseConfig/loadConfig. */
  path: string;
  mode: "server" | "client" | "publisher";
  broker: BrokerConfig;
  queuePrefix: string;
  keygenLength: number;
  /** Candidates in order; the agent uses the first that exists. */
  actionsDirs: string[];
  stateDir: string;
  actionTimeoutSeconds: number;
  log: {
    target: "stdout" | "syslog" | "journal";
    level: string;
    format: "json" | "text";
    /** Where `log = syslog` sends: `udp://host:port` or `tcp://host:port`. */
    syslogAddress: string;
  };
  /** Absent when the file has no [server] section (an exported client file). */
  server?: PeerConfig;
  /** In file order. */
  clients: PeerConfig[];
  /** `[publisher:NAME]` sections, in file order. */
  publishers: PublisherConfig[];
  /** `[server] accept_server_key`: false when only publishers' keys are taken. */
  acceptServerKey: boolean;
  /**
   * `ignoreip` as each section sets it (own value or [DEFAULT]'s), by section name: "global", "server",
   * client names. A section's list adds to [global]'s; see allowlistFor().
   */
  ignoreIp: Record<string, string[]>;
  /** Ban state: default ban duration and the agents' check interval. */
  state: StateConfig;
  /** `allow_params` as each section sets it, by section name; see allowParamsFor(). */
  allowParams: Record<string, AllowedParamEntry[]>;
  /** `metrics` as each section sets it, by section name ("global", "server", client names); see metricsFor(). */
  metrics: Record<string, MetricsAddress>;
  /** The raw parse, for export. */
  document: IniDocument;
}

/** Settings of the ban ledger, the agents' expiry schedule and drift checks. */
export interface StateConfig {
  /** `bantime` ([server], else [global]): seconds a ban lasts when its request gives none; null = no end. */
  banTimeSeconds: number | null;
  /** `drift_interval`: seconds between an agent's checks of its bans (and digest reports). */
  driftIntervalSeconds: number;
  /** `queue_prefix` + `results`: the durable queue agents send results and digests to. */
  resultsQueue: string;
}

export interface ParsedConfig {
  config: Net2banConfig;
  warnings: string[];
}

/** `queue_prefix` + this is the queue agents send results and digests to (so no client has this name). */
const RESULTS_QUEUE_SUFFIX = "results";

type Found<T> = { state: "missing" } | { state: "invalid" } | { state: "ok"; value: T; section: string };

export function sectionKind(name: string): SectionKind {
  if (name.startsWith(PUBLISHER_SECTION_PREFIX)) return "publisher";
  return (RESERVED_SECTIONS as readonly string[]).includes(name) ? (name as SectionKind) : "client";
}

/** A publisher's name: a key id on the wire (as a client name), never "server" (the [server] key's id). */
const PUBLISHER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$/;

function placesFor(sections: readonly SectionKind[]): string {
  const labels = sections.map((s) =>
    s === "client" ? "client sections" : s === "publisher" ? "[publisher:NAME] sections" : `[${s}]`,
  );
  return labels.length <= 1 ? (labels[0] ?? "") : `${labels.slice(0, -1).join(", ")} and ${labels.at(-1)}`;
}

/** Reads typed values out of one document, collecting problems instead of stopping at the first. */
class Reader {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];

  constructor(
    readonly document: IniDocument,
    readonly display: string,
  ) {}

  error(line: string): void {
    const full = `${this.display}: ${line}`;
    if (!this.errors.includes(full)) this.errors.push(full);
  }

  warn(line: string): void {
    const full = `${this.display}: ${line}`;
    if (!this.warnings.includes(full)) this.warnings.push(full);
  }

  /** The entry a section sees for `key`: its own, else [DEFAULT] (Python's has_option/get). */
  entry(section: string, key: string): { entry: IniEntry; from: string } | undefined {
    const own = this.document.sections.get(section)?.entries.get(key);
    if (own !== undefined) return { entry: own, from: section };
    const fallback = this.document.defaults.get(key);
    return fallback === undefined ? undefined : { entry: fallback, from: "DEFAULT" };
  }

  /**
   * The value as Python 2's ConfigParser.get returns it: raw unless it contains "%(" (Py2 leaves a
   * lone "%" or "%%" alone then), else expanded from the section and [DEFAULT].
   */
  expanded(section: string, key: string): string | undefined {
    const found = this.entry(section, key);
    if (found === undefined) return undefined;
    const raw = found.entry.value;
    if (!raw.includes("%(")) return raw;
    const lookup = (name: string) =>
      name === "__name__" ? section : (this.entry(section, name)?.entry.value ?? undefined);
    try {
      return interpolate(raw, lookup, { fileName: this.display, section, key });
    } catch (error) {
      if (!(error instanceof InterpolationError)) throw error;
      this.errors.includes(error.message) || this.errors.push(error.message);
      return undefined;
    }
  }

  /** Looks `key` up in each section in turn; the first that has it decides (valid or not). */
  read<K extends ConfigKey>(key: K, sections: readonly string[]): Found<ConfigValue<K>> {
    for (const section of sections) {
      const found = this.entry(section, key);
      if (found === undefined) continue;
      const raw = this.expanded(section, key);
      if (raw === undefined) return { state: "invalid" };
      const result = CONFIG_KEYS[key].schema.safeParse(raw);
      if (result.success) return { state: "ok", value: result.data as ConfigValue<K>, section };
      this.error(`[${found.from}] ${key}: ${result.error.issues[0]?.message ?? "invalid value"}`);
      return { state: "invalid" };
    }
    return { state: "missing" };
  }

  /** As read(), falling back to the key's documented default. */
  readOrDefault<K extends ConfigKey>(key: K, sections: readonly string[]): ConfigValue<K> | undefined {
    const found = this.read(key, sections);
    if (found.state === "ok") return found.value;
    if (found.state === "invalid") return undefined;
    const fallback = (CONFIG_KEYS[key] as { default?: string }).default;
    if (fallback === undefined) return undefined;
    return CONFIG_KEYS[key].schema.parse(fallback) as ConfigValue<K>;
  }

  /** As read(), but a missing value is an error naming the section that needed it. */
  require<K extends ConfigKey>(
    key: K,
    sections: readonly string[],
    hint: string,
  ): ConfigValue<K> | undefined {
    const found = this.read(key, sections);
    if (found.state === "ok") return found.value;
    if (found.state === "missing") this.error(`[${sections[0]}] ${key}: missing; ${hint}`);
    return undefined;
  }

  /** Warns about keys a section does not read: unknown ones and ones that belong elsewhere. */
  checkKeys(): void {
    for (const key of this.document.defaults.keys()) {
      if (!isConfigKey(key)) this.warn(`[DEFAULT] ${key}: unknown key, ignored`);
    }
    for (const section of this.document.sections.values()) {
      const kind = sectionKind(section.name);
      for (const key of section.entries.keys()) {
        if (!isConfigKey(key)) {
          this.warn(`[${section.name}] ${key}: unknown key, ignored`);
        } else if (!CONFIG_KEYS[key].sections.includes(kind)) {
          this.warn(
            `[${section.name}] ${key}: only read in ${placesFor(CONFIG_KEYS[key].sections)}, ignored`,
          );
        }
      }
    }
  }
}

function resolvePeer(reader: Reader, name: string, queue: string | undefined): PeerConfig | undefined {
  const chain = [name, "global"];
  const where = name === "server" ? "[server] or [global]" : `[${name}] or [global]`;
  const key = reader.require(
    "key",
    [name],
    `set this ${name === "server" ? "server's" : "client's"} key here`,
  );
  const secret = reader.require("secret", chain, `set it in ${where}`);
  const rounds = reader.require("rounds", chain, `set it in ${where}`);
  const authkey = reader.require("authkey", chain, `set it in ${where}`);
  const validWindowSeconds = reader.readOrDefault("valid_wtime", chain);
  const protocol = reader.readOrDefault("protocol", chain);
  const queueType = reader.readOrDefault("queue_type", chain);
  // Only the peer's own section: [global] url is the shared default, kept in broker.urls.
  const urls = reader.read("url", [name]);
  if (
    key === undefined ||
    secret === undefined ||
    rounds === undefined ||
    authkey === undefined ||
    validWindowSeconds === undefined ||
    protocol === undefined ||
    queueType === undefined ||
    urls.state === "invalid" ||
    queue === undefined
  ) {
    return undefined;
  }
  const peer: PeerConfig = {
    name,
    key,
    secret,
    rounds,
    authkey,
    validWindowSeconds,
    protocol: protocol === "1" ? 1 : 2,
    queue,
    queueType,
  };
  if (urls.state === "ok") peer.urls = urls.value;
  if (name !== "server" && reader.readOrDefault("allow_update", chain) === false) peer.allowUpdate = false;
  return peer;
}

function resolvePublisher(
  reader: Reader,
  section: string,
  serverInput: string | undefined,
): PublisherConfig | undefined {
  const name = section.slice(PUBLISHER_SECTION_PREFIX.length);
  if (!PUBLISHER_NAME.test(name)) {
    reader.error(
      `[${section}]: expected a publisher name of 1-128 of A-Z a-z 0-9 _ . @ + - after "publisher:"`,
    );
    return undefined;
  }
  if (name === "server") {
    reader.error(`[${section}]: "server" is the key id of the [server] key; name the publisher otherwise`);
    return undefined;
  }
  const chain = [section, "global"];
  const where = `[${section}] or [global]`;
  const key = reader.require("key", [section], "set this publisher's key here (net2banctl gen_random)");
  const secret = reader.require("secret", chain, `set it in ${where}`);
  const rounds = reader.require("rounds", chain, `set it in ${where}`);
  const authkey = reader.require("authkey", chain, `set it in ${where}`);
  const validWindowSeconds = reader.readOrDefault("valid_wtime", chain);
  const protocol = reader.readOrDefault("protocol", [section]);
  if (protocol === "1") {
    reader.error(`[${section}] protocol: publishers need protocol 2 (protocol 1 has no key id)`);
  }
  const ownInput = reader.read("input", [section]);
  const queue = ownInput.state === "ok" ? ownInput.value : serverInput;
  if (ownInput.state === "missing" && serverInput === undefined) {
    reader.error(`[${section}] input: missing; set the server's input queue here, or add [server]`);
  }
  const urls = reader.read("url", [section]);
  const commands = reader.readOrDefault("commands", [section]);
  const actions = reader.readOrDefault("actions", [section]);
  const operations = reader.readOrDefault("operations", [section]);
  const to = reader.readOrDefault("to", [section]);
  const maxBanTime = reader.read("max_bantime", [section]);
  const rate = reader.read("rate", [section]);
  if (
    key === undefined ||
    secret === undefined ||
    rounds === undefined ||
    authkey === undefined ||
    validWindowSeconds === undefined ||
    protocol !== "2" ||
    queue === undefined ||
    urls.state === "invalid" ||
    commands === undefined ||
    actions === undefined ||
    operations === undefined ||
    to === undefined ||
    maxBanTime.state === "invalid" ||
    rate.state === "invalid"
  ) {
    return undefined;
  }
  const rights: PublisherRights = { commands, actions, operations, to };
  if (maxBanTime.state === "ok") rights.maxBanTimeSeconds = maxBanTime.value;
  if (rate.state === "ok") rights.ratePerMinute = rate.value;
  const publisher: PublisherConfig = {
    name,
    key,
    secret,
    rounds,
    authkey,
    validWindowSeconds,
    protocol: 2,
    queue,
    rights,
  };
  if (urls.state === "ok") publisher.urls = urls.value;
  return publisher;
}

function checkQueueName(reader: Reader, section: string, queue: string): void {
  if (Buffer.byteLength(queue, "utf8") > MAX_QUEUE_NAME_BYTES) {
    reader.error(
      `[${section}]: queue name ${JSON.stringify(queue)} is longer than ${MAX_QUEUE_NAME_BYTES} bytes`,
    );
  } else if (queue.startsWith("amq.")) {
    reader.error(
      `[${section}]: queue name ${JSON.stringify(queue)} starts with "amq.", which RabbitMQ reserves`,
    );
  }
}

function resolveBroker(reader: Reader): BrokerConfig | undefined {
  const url = reader.read("url", ["global"]);
  let urls: string[] | undefined;
  if (url.state === "ok") {
    urls = url.value;
  } else if (url.state === "missing") {
    const host = reader.require("server", ["global"], "set server (the RabbitMQ host) or url");
    if (host !== undefined) urls = [`amqp://guest:guest@${host}:5672/`];
  }
  const ctlUrl = reader.read("ctl_url", ["global"]);
  const inputExchange = reader.read("input_exchange", ["global"]);
  const deadLetterExchange = reader.read("dead_letter_exchange", ["global"]);
  // TLS files serve every login of the file: [global] url, ctl_url and the peers' own urls.
  const everyUrl = [...(urls ?? []), ...(ctlUrl.state === "ok" ? ctlUrl.value : [])];
  for (const section of reader.document.sections.keys()) {
    if (section === "global" || section === "keygen") continue;
    const own = reader.document.sections.get(section)?.entries.get("url")?.value;
    if (own !== undefined) everyUrl.push(...own.split(",").map((u) => u.trim()));
  }
  const tls: { ca?: string; cert?: string; key?: string } = {};
  for (const [key, field] of [
    ["tls_ca", "ca"],
    ["tls_cert", "cert"],
    ["tls_key", "key"],
  ] as const) {
    const value = reader.readOrDefault(key, ["global"]);
    if (value === undefined) continue;
    if (urls !== undefined && !everyUrl.some((u) => u.startsWith("amqps:"))) {
      reader.warn(`[global] ${key}: the broker URL is not amqps://, ignored`);
      continue;
    }
    tls[field] = value;
  }
  const heartbeatSeconds = reader.readOrDefault("heartbeat", ["global"]);
  const prefetch = reader.readOrDefault("prefetch", ["global"]);
  if (urls === undefined || heartbeatSeconds === undefined || prefetch === undefined) return undefined;
  const broker: BrokerConfig = { urls, heartbeatSeconds, prefetch };
  if (ctlUrl.state === "ok") broker.ctlUrls = ctlUrl.value;
  if (inputExchange.state === "ok") broker.inputExchange = inputExchange.value;
  if (deadLetterExchange.state === "ok") broker.deadLetterExchange = deadLetterExchange.value;
  if (Object.keys(tls).length > 0) broker.tls = tls;
  return broker;
}

/**
 * Parses and validates net2ban.cfg text. `fileName` becomes `config.path`; messages use its base
 * name. Throws ConfigError listing every problem; unknown keys only produce warnings.
 */
export function parseConfig(text: string, fileName: string): ParsedConfig {
  assertString(text, "text");
  assertString(fileName, "fileName");
  const display = basename(fileName) || fileName;
  let document: IniDocument;
  try {
    document = parseIni(text, { fileName: display, flavor: "python2" });
  } catch (error) {
    if (error instanceof IniSyntaxError) {
      throw new ConfigError(
        error.problems.map((p) => `${display}:${p.line}: ${p.message}`),
        [],
        { cause: error },
      );
    }
    throw error;
  }

  const reader = new Reader(document, display);
  reader.checkKeys();

  const hasGlobal = document.sections.has("global");
  if (!hasGlobal) reader.error("[global]: missing section");
  for (const name of document.sections.keys()) {
    const reserved = RESERVED_SECTIONS.find((r) => r === name.toLowerCase() && r !== name);
    if (reserved !== undefined) {
      reader.warn(`[${name}]: section names are case-sensitive; read as a client, not as [${reserved}]`);
    }
  }

  const mode = hasGlobal ? reader.require("mode", ["global"], 'set it to "server" or "client"') : undefined;
  const broker = hasGlobal ? resolveBroker(reader) : undefined;
  const queuePrefix = reader.readOrDefault("queue_prefix", ["global"]);
  const keygenLength = reader.readOrDefault("keylen", ["keygen"]);
  const actionsDir = reader.read("actions_dir", ["global"]);
  const stateDir = reader.readOrDefault("state_dir", ["global"]);
  const actionTimeoutSeconds = reader.readOrDefault("action_timeout", ["global"]);
  const logTarget = reader.readOrDefault("log", ["global"]);
  const logLevel = reader.readOrDefault("log_level", ["global"]);
  const logFormat = reader.readOrDefault("log_format", ["global"]);
  const syslogAddress = reader.readOrDefault("syslog_address", ["global"]);
  const banTime = reader.read("bantime", ["server", "global"]);
  const driftIntervalSeconds = reader.readOrDefault("drift_interval", ["global"]);

  let server: PeerConfig | undefined;
  if (document.sections.has("server")) {
    const input = reader.readOrDefault("input", ["server"]);
    if (input !== undefined) checkQueueName(reader, "server", input);
    server = resolvePeer(reader, "server", input);
  } else if (mode === "server") {
    reader.error("[server]: missing section; mode = server needs its input queue and key");
  }

  const ignoreIp: Record<string, string[]> = {};
  for (const name of document.sections.keys()) {
    if (sectionKind(name) === "keygen" || sectionKind(name) === "publisher") continue;
    const found = reader.read("ignoreip", [name]);
    if (found.state === "ok" && found.value.length > 0) ignoreIp[name] = found.value;
  }

  const allowParams: Record<string, AllowedParamEntry[]> = {};
  for (const name of document.sections.keys()) {
    if (sectionKind(name) === "keygen") continue;
    const found = reader.read("allow_params", [name]);
    if (found.state === "ok" && found.value.length > 0) allowParams[name] = found.value;
  }

  const metrics: Record<string, MetricsAddress> = {};
  for (const name of document.sections.keys()) {
    if (sectionKind(name) === "keygen" || sectionKind(name) === "publisher") continue;
    const found = reader.read("metrics", [name]);
    if (found.state === "ok") metrics[name] = found.value;
  }

  const publishers: PublisherConfig[] = [];
  for (const name of document.sections.keys()) {
    if (sectionKind(name) !== "publisher") continue;
    const publisher = resolvePublisher(reader, name, server?.queue);
    if (publisher !== undefined) publishers.push(publisher);
  }
  const acceptServerKey = document.sections.has("server")
    ? reader.readOrDefault("accept_server_key", ["server"])
    : true;

  const clients: PeerConfig[] = [];
  for (const name of document.sections.keys()) {
    if (sectionKind(name) !== "client") continue;
    const queue = queuePrefix === undefined ? undefined : queuePrefix + name;
    if (name === RESULTS_QUEUE_SUFFIX) {
      reader.error(
        `[${name}]: a client cannot be named "${name}": ${queue} is the queue of the agents' results`,
      );
    }
    if (queue !== undefined) {
      checkQueueName(reader, name, queue);
      if (server !== undefined && server.queue === queue) {
        reader.error(`[server] input: ${JSON.stringify(queue)} is also the queue of [${name}]`);
      }
    }
    const peer = resolvePeer(reader, name, queue);
    if (peer !== undefined) clients.push(peer);
  }

  if (reader.errors.length > 0) throw new ConfigError(reader.errors, reader.warnings);
  // Every value below was checked above: reaching here with one undefined would be a bug in this file.
  const config: Net2banConfig = {
    path: fileName,
    mode: mode!,
    broker: broker!,
    queuePrefix: queuePrefix!,
    keygenLength: keygenLength!,
    actionsDirs: actionsDir.state === "ok" ? [actionsDir.value] : [...DEFAULT_ACTIONS_DIRS],
    stateDir: stateDir!,
    actionTimeoutSeconds: actionTimeoutSeconds!,
    log: { target: logTarget!, level: logLevel!, format: logFormat!, syslogAddress: syslogAddress! },
    clients,
    publishers,
    acceptServerKey: acceptServerKey!,
    ignoreIp,
    allowParams,
    state: {
      banTimeSeconds:
        banTime.state === "ok"
          ? banTime.value
          : CONFIG_KEYS.bantime.schema.parse(CONFIG_KEYS.bantime.default),
      driftIntervalSeconds: driftIntervalSeconds!,
      resultsQueue: queuePrefix! + RESULTS_QUEUE_SUFFIX,
    },
    metrics,
    document,
  };
  if (server !== undefined) config.server = server;
  return { config, warnings: reader.warnings };
}

/**
 * The `ignoreip` a section applies: [global]'s plus its own (`section` is "server" or a client name),
 * each entry labelled with its section. Lists add up rather than replace (unlike fail2ban's per-jail
 * ignoreip), so a client section can never drop the fleet-wide protection by accident.
 */
export function allowlistFor(config: Net2banConfig, section: string): Allowlist {
  assertObject(config, "config");
  assertString(section, "section");
  const sections = section === "global" ? ["global"] : ["global", section];
  return new Allowlist().concat(
    ...sections.map((name) => Allowlist.of(`[${name}]`, config.ignoreIp[name] ?? [])),
  );
}

/**
 * The action options messages may set for the daemon of `section` ("server", which net2banctl shares, or
 * a client name): [global]'s `allow_params` plus the section's own. Build the policy with
 * `ParamPolicy.of(allowParamsFor(...), describeAllowParams(section))` of @net2ban/actions.
 */
export function allowParamsFor(config: Net2banConfig, section: string): AllowedParamEntry[] {
  assertObject(config, "config");
  assertString(section, "section");
  const sections = section === "global" ? ["global"] : ["global", section];
  return sections.flatMap((name) => config.allowParams[name] ?? []);
}

/** Where allowParamsFor(config, section) reads from, for refusals: `allow_params of [global] and [web1]`. */
export function describeAllowParams(section: string): string {
  return section === "global" ? "allow_params of [global]" : `allow_params of [global] and [${section}]`;
}

/**
 * Where the daemon of `section` ("server" or a client name) serves Prometheus metrics: its own section's
 * `metrics`, else [global]'s; undefined when neither sets it.
 */
export function metricsFor(config: Net2banConfig, section: string): MetricsAddress | undefined {
  assertObject(config, "config");
  assertString(section, "section");
  return config.metrics[section] ?? config.metrics["global"];
}

/** One publisher's settings; ConfigError naming the known publishers if there is no such section. */
export function publisherConfig(config: Net2banConfig, name: string): PublisherConfig {
  assertObject(config, "config");
  assertString(name, "name");
  const found = config.publishers.find((p) => p.name === name);
  if (found !== undefined) return found;
  const known = config.publishers.map((p) => p.name);
  const display = basename(config.path) || config.path;
  throw new ConfigError([
    `${display}: no publisher named ${JSON.stringify(name)}; ${known.length > 0 ? `known: ${known.join(", ")}` : "the file defines no [publisher:NAME] sections"}`,
  ]);
}

/** Client names in file order (the original's `net2banctl list_clients`). */
export function listClients(config: Net2banConfig): string[] {
  assertObject(config, "config");
  return config.clients.map((c) => c.name);
}

/** One client's settings; ConfigError naming the known clients if there is no such section. */
export function clientConfig(config: Net2banConfig, name: string): PeerConfig {
  assertObject(config, "config");
  assertString(name, "name");
  const found = config.clients.find((c) => c.name === name);
  if (found !== undefined) return found;
  const known = config.clients.map((c) => c.name);
  const display = basename(config.path) || config.path;
  throw new ConfigError([
    `${display}: no client named ${JSON.stringify(name)}; ${known.length > 0 ? `known: ${known.join(", ")}` : "the file defines no clients"}`,
  ]);
}
