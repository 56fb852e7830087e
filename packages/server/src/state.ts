// The server's part of the ban state: the ledger in state_dir/server, ban/unban/status requests (and the
// fail2ban action's exec with bantime), apply commands and catch-up syncs to agents, expiry, and the
// agents' results and digests from <queue_prefix>results (handled in reports.ts, judged in drift.ts).
// Replies to net2banctl --wait go out through replies.ts, the metrics are registered in metrics.ts.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { checkBan, type Net2banConfig, type PeerConfig } from "@net2ban/config";
import { type BanIdentity, type HostStatus, Ledger, type LedgerBan } from "@net2ban/ledger";
import {
  type BanMessage,
  type Codec,
  createCodec,
  type KeyCache,
  LIMITS,
  type Net2banMessage,
  type OpenedMessage,
  type StatusMessage,
  type UnbanMessage,
} from "@net2ban/protocol";
import type { ApplyMessage, HeldBan, StateMessage, SyncMessage } from "@net2ban/protocol/fleet";
import { type Logger, MetricsRegistry, registerQueueDepth, startMetricsServer } from "@net2ban/runtime";
import type { Broker, Consumer, PublishItem, Verdict } from "@net2ban/transport";
import { DriftJudge } from "./drift.js";
import { registerServerMetrics, type ServerMetrics } from "./metrics.js";
import { Replies, SERVER_SENDER } from "./replies.js";
import { AgentReports, mustHold } from "./reports.js";
import { RequestMemory } from "./request-memory.js";
import type { Route, Routing } from "./server.js";
import { SyncLimiter } from "./sync-limiter.js";

export interface ServerStateOptions {
  config: Net2banConfig;
  broker: Broker;
  logger: Logger;
  keyCache: KeyCache;
  metrics?: MetricsRegistry;
  /** Clock in milliseconds since the epoch. */
  now?: () => number;
  /** Least time between two whole-set syncs to one agent (default MIN_SYNC_INTERVAL_MS, 10 s). */
  minSyncIntervalMs?: number;
}

/** Bytes of JSON per sync/state part, under the protocol's bound for sets. */
const PART_BYTES = 1024 * 1024;
const DEFAULT_NAME = "default";

/** The request a ban state operation came from. */
interface Origin {
  id: string;
  sender: string;
  /** Whose key sealed the request: "server" or a publisher's name. */
  publisher: string;
  timestamp: number;
  replyTo: string | undefined;
}

/** Sets of bans in parts whose JSON stays under PART_BYTES. */
function split<T>(items: readonly T[]): T[][] {
  const parts: T[][] = [[]];
  let size = 0;
  for (const item of items) {
    const bytes = Buffer.byteLength(JSON.stringify(item), "utf8") + 1;
    const last = parts.at(-1)!;
    if (last.length > 0 && (size + bytes > PART_BYTES || last.length >= LIMITS.bansPerMessage)) {
      parts.push([item]);
      size = bytes;
    } else {
      last.push(item);
      size += bytes;
    }
  }
  return parts;
}

function heldBan(ban: LedgerBan): HeldBan {
  return { file: ban.file, name: ban.name, ip: ban.ip, params: { ...ban.params }, expiresAt: ban.expiresAt };
}

function describeBan(ban: BanIdentity): string {
  return `${ban.file}/${ban.name} ${ban.ip}`;
}

/** The fail2ban action's ban: exec actionban with a bantime (seconds, negative: for ever). */
function execBanTime(message: Net2banMessage): number | null | undefined {
  if (message.cmd !== "exec" || message.action !== "actionban") return undefined;
  const raw = message.params["bantime"];
  if (raw === undefined || !/^-?[0-9]+$/.test(raw)) return undefined;
  const seconds = Number(raw);
  if (seconds < 0) return null;
  return seconds > 0 ? seconds : undefined;
}

/** The ledger, expiry, results and digests, for a server whose config has a state_dir. */
export class ServerState {
  readonly #options: ServerStateOptions;
  readonly #ledger: Ledger;
  readonly #requests: RequestMemory;
  readonly #replies: Replies;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #resultsQueue: string;
  readonly #reports: AgentReports;
  readonly #syncs: SyncLimiter;
  readonly #drift: DriftJudge;
  #routing: Routing | undefined;
  #consumer: Consumer | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  #expiryTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #metrics: ServerMetrics | undefined;

  private constructor(
    options: ServerStateOptions,
    ledger: Ledger,
    requests: RequestMemory,
    replyCodec: Codec,
  ) {
    this.#options = options;
    this.#ledger = ledger;
    this.#requests = requests;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#resultsQueue = options.config.state.resultsQueue;
    this.#replies = new Replies({
      broker: options.broker,
      codecFor: (publisher) =>
        publisher === "server" ? replyCodec : this.#routing?.publishers.get(publisher)?.replyCodec,
      logger: options.logger,
      now: this.#now,
    });
    this.#drift = new DriftJudge({
      now: this.#now,
      driftIntervalSeconds: options.config.state.driftIntervalSeconds,
    });
    this.#syncs = new SyncLimiter({
      send: (client, reason) =>
        this.#locked(async () => {
          const route = this.#routing?.routes.get(client);
          if (!this.#stopped && route?.peer.protocol === 2) await this.#sendSync(route, reason);
        }),
      logger: options.logger,
      now: this.#now,
      ...(options.minSyncIntervalMs === undefined ? {} : { minIntervalMs: options.minSyncIntervalMs }),
    });
    this.#metrics =
      options.metrics === undefined
        ? undefined
        : registerServerMetrics(options.metrics, () => ledger.active().length);
    this.#reports = new AgentReports({
      ledger,
      drift: this.#drift,
      replies: this.#replies,
      syncs: this.#syncs,
      logger: options.logger,
      keyCache: options.keyCache,
      validWindowSeconds: options.config.server?.validWindowSeconds ?? 3600,
      now: this.#now,
      metrics: this.#metrics,
      routing: () => this.#routing,
      locked: (task) => this.#locked(task),
      sendSync: (route, reason) => this.#sendSync(route, reason),
    });
  }

  /**
   * Opens the ledger and the replay memory of requests (state_dir/server) and makes the codec of replies
   * to net2banctl.
   */
  static async open(options: ServerStateOptions): Promise<ServerState> {
    const server = options.config.server;
    if (server === undefined) throw new TypeError(`"config.server" expected the [server] section`);
    const dir = join(options.config.stateDir, "server");
    const clock = options.now === undefined ? {} : { now: options.now };
    const ledger = await Ledger.open({ dir, logger: options.logger, ...clock });
    const requests = await RequestMemory.open({
      dir,
      validWindowSeconds: server.validWindowSeconds,
      logger: options.logger,
      ...clock,
    });
    const replyCodec = await createCodec({
      protocol: 2,
      keyId: "server",
      direction: "from-server",
      keys: server,
      cache: options.keyCache,
    });
    return new ServerState(options, ledger, requests, replyCodec);
  }

  get ledger(): Ledger {
    return this.#ledger;
  }

  /** The requests taken within valid_wtime, kept across restarts (Net2banServer checks each against it). */
  get requests(): RequestMemory {
    return this.#requests;
  }

  get resultsQueue(): string {
    return this.#resultsQueue;
  }

  /** Declares and consumes the results queue, expires what ended while the server was down. */
  async start(routing: Routing): Promise<void> {
    this.#routing = routing;
    const { broker, config } = this.#options;
    const queue = { name: this.#resultsQueue, queueType: routing.input.queueType };
    const exchange = config.broker.deadLetterExchange;
    if (exchange !== undefined) {
      // Least-privilege agent logins publish results through the dead-letter exchange (a topic permission
      // allows them this queue's name), and the reports rejected here are copied through it to `.dead`.
      await broker.bindQueue({ exchange, exchangeType: "topic", queue });
      await broker.bindQueue({ exchange, exchangeType: "topic", queue, deadLetter: true });
    }
    this.#consumer = await broker.consume({ prefetch: config.broker.prefetch, queue }, (delivery) =>
      this.#reports.handle(delivery),
    );
    await this.#locked(() => this.#expire());
    this.#replies.start();
    this.#logger.info(
      { bans: this.#ledger.active().length, results: this.#resultsQueue },
      `ledger: ${this.#ledger.active().length} active ban(s)`,
    );
  }

  /** SIGHUP: a client added gets the active set now; a client removed is forgotten. */
  async reload(routing: Routing, added: string[], removed: string[]): Promise<void> {
    this.#routing = routing;
    for (const name of removed) {
      this.#drift.forget(name);
      this.#ledger.forgetHost(name);
      this.#reports.forget(name);
      this.#syncs.forget(name);
    }
    for (const name of added) {
      const route = routing.routes.get(name);
      if (route === undefined || route.peer.protocol !== 2) continue;
      if (this.#syncs.take(name, "added")) await this.#locked(() => this.#sendSync(route, "added"));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#syncs.stop();
    await this.#consumer?.cancel();
    this.#consumer = undefined;
    clearTimeout(this.#expiryTimer);
    this.#replies.stop();
    await this.#locked(async () => undefined);
    await this.#ledger.close();
    await this.#requests.close();
  }

  /**
   * A request the ban state takes: ban, unban, status, an exec actionban with bantime (fail2ban's), an exec
   * actionunban of a ban in the ledger. Returns the verdict, or undefined for a request forwarded as usual.
   */
  async handleRequest(
    opened: OpenedMessage,
    routing: Routing,
    id: string,
    publisher = "server",
  ): Promise<Verdict | undefined> {
    this.#routing = routing;
    const message = opened.message;
    const origin: Origin = {
      id,
      publisher,
      sender: "sender" in message && message.sender !== undefined ? message.sender : "net2ban-v1",
      timestamp: message.timestamp,
      replyTo: "replyTo" in message ? message.replyTo : undefined,
    };
    switch (message.cmd) {
      case "ban":
        this.#metrics?.requests.inc({ cmd: "ban" });
        return this.#ban(message, origin, routing);
      case "unban":
        this.#metrics?.requests.inc({ cmd: "unban" });
        return this.#unban(message, origin, routing, false);
      case "status":
        this.#metrics?.requests.inc({ cmd: "status" });
        await this.#status(message, routing, publisher);
        return "ack";
      case "exec": {
        const banTime = execBanTime(message);
        const ip = message.params["ip"];
        const name = message.params["name"] ?? DEFAULT_NAME;
        if (ip === undefined || !/^[^\u0000-\u001f\u007f]{1,128}$/.test(name)) return undefined;
        const { ip: _ip, name: _name, ...params } = message.params;
        if (banTime !== undefined) {
          this.#metrics?.requests.inc({ cmd: "exec-ban" });
          const ban: BanMessage = {
            cmd: "ban",
            file: message.file,
            name,
            ip,
            params,
            duration: banTime,
            timestamp: message.timestamp,
            id,
            sender: origin.sender,
            ...(message.to === undefined ? {} : { to: message.to }),
          };
          return this.#ban(ban, origin, routing);
        }
        if (
          message.action === "actionunban" &&
          this.#ledger.get({ file: message.file, name, ip }) !== undefined
        ) {
          this.#metrics?.requests.inc({ cmd: "exec-unban" });
          const unban: UnbanMessage = {
            cmd: "unban",
            ip,
            file: message.file,
            name,
            timestamp: message.timestamp,
            id,
            sender: origin.sender,
          };
          return this.#unban(unban, origin, routing, true);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /** A request the server refused before the ledger saw it: a --wait caller learns why. */
  async refused(message: Net2banMessage, id: string, reason: string, publisher = "server"): Promise<void> {
    const replyTo = "replyTo" in message ? message.replyTo : undefined;
    if (replyTo === undefined) return;
    await this.#replies.refuse(id, replyTo, reason, publisher);
  }

  /** After the server forwarded an exec as usual: a --wait caller learns which hosts to expect. */
  async forwarded(
    message: Net2banMessage,
    id: string,
    targets: PeerConfig[],
    publisher = "server",
  ): Promise<void> {
    this.#metrics?.requests.inc({ cmd: message.cmd });
    const replyTo = "replyTo" in message ? message.replyTo : undefined;
    if (replyTo === undefined) return;
    const hosts = targets.filter((peer) => peer.protocol === 2).map((peer) => peer.name);
    this.#replies.expect(id, replyTo, hosts, publisher);
    await this.#replies.accepted(replyTo, { requestId: id, hosts, change: "exec" }, publisher);
  }

  // --- requests -------------------------------------------------------------------------------------

  async #ban(message: BanMessage, origin: Origin, routing: Routing): Promise<Verdict> {
    const refusal = checkBan(routing.allowlist, { action: "actionban", params: { ip: message.ip } });
    if (refusal !== undefined) {
      this.#logger.warn(
        { id: origin.id, file: message.file, ignoreip: refusal.entry?.source },
        `${refusal.message}; request dropped`,
      );
      await this.#replies.refuse(origin.id, origin.replyTo, refusal.message, origin.publisher);
      return "reject";
    }
    const seconds =
      message.duration === undefined ? this.#options.config.state.banTimeSeconds : message.duration;
    const expiresAt = seconds === null ? null : message.timestamp + seconds;
    if (expiresAt !== null && expiresAt <= this.#now() / 1000) {
      this.#logger.warn(
        { id: origin.id, ip: message.ip },
        `ban ${message.ip} ended before it arrived; nothing to do`,
      );
      await this.#replies.refuse(
        origin.id,
        origin.replyTo,
        "the ban ended before the server got it",
        origin.publisher,
      );
      return "ack";
    }
    const targets = this.#targetsOf(message.to ?? null, message.ip, routing, origin.id);
    return this.#locked(async (): Promise<Verdict> => {
      const { ban, change } = await this.#ledger.ban({
        file: message.file,
        name: message.name,
        ip: message.ip,
        params: message.params,
        expiresAt,
        requestId: origin.id,
        sender: origin.sender,
        publisher: origin.publisher,
        to: message.to === undefined ? null : [...message.to],
      });
      const items: PublishItem[] = [];
      const pending: Array<{ key: string; host: string; status: HostStatus }> = [];
      const at = this.#now() / 1000;
      for (const route of targets) {
        if (route.peer.protocol === 2) {
          items.push(this.#apply(route, "ban", ban, origin.id, origin.timestamp));
          const known = ban.hosts.get(route.peer.name);
          if (change === "new" || known === undefined) {
            pending.push({ key: ban.key, host: route.peer.name, status: { state: "pending", at } });
            // A ban the host did not have: it adds it (an extension changes no digest).
            this.#drift.sent(route.peer.name, origin.id, {
              op: "ban",
              key: ban.key,
              expiresAt: ban.expiresAt,
            });
          }
        } else if (change === "new") {
          items.push(this.#legacyExec(route, "actionban", ban, origin));
        }
      }
      await this.#ledger.setHostStates(pending);
      const hosts = targets.filter((r) => r.peer.protocol === 2).map((r) => r.peer.name);
      if (origin.replyTo !== undefined)
        this.#replies.expect(origin.id, origin.replyTo, hosts, origin.publisher);
      this.#logger.info(
        {
          id: origin.id,
          publisher: origin.publisher,
          cmd: "ban",
          file: ban.file,
          ip: ban.ip,
          change,
          expiresAt: ban.expiresAt,
          clients: targets.length,
        },
        `Forwarding: exec/${ban.file}`,
      );
      await this.#options.broker.publishAll(items);
      this.#armExpiry();
      if (origin.replyTo !== undefined) {
        await this.#replies.accepted(
          origin.replyTo,
          { requestId: origin.id, hosts, change, expiresAt: ban.expiresAt },
          origin.publisher,
        );
      }
      return "ack";
    });
  }

  async #unban(message: UnbanMessage, origin: Origin, routing: Routing, viaExec: boolean): Promise<Verdict> {
    const refusal = checkBan(routing.allowlist, { action: "actionunban", params: { ip: message.ip } });
    if (refusal !== undefined) {
      this.#logger.warn({ id: origin.id }, `${refusal.message}; request dropped`);
      await this.#replies.refuse(origin.id, origin.replyTo, refusal.message, origin.publisher);
      return "reject";
    }
    return this.#locked(async (): Promise<Verdict> => {
      // The [server] key (the operator) lifts every hold, or the one `holder` names; a publisher releases
      // its own, whatever it names. The address stays banned while another holder still holds it.
      const match = { ip: message.ip, file: message.file, name: message.name };
      const holder = origin.publisher === "server" ? message.holder : origin.publisher;
      let removed: LedgerBan[];
      if (holder === undefined) removed = await this.#ledger.unban(match);
      else {
        const { lifted, kept } = await this.#ledger.release({ ...match, publisher: holder });
        removed = lifted;
        for (const ban of kept) {
          this.#logger.info(
            {
              id: origin.id,
              publisher: origin.publisher,
              holder,
              ip: ban.ip,
              holders: [...ban.holders.keys()],
            },
            `unban ${describeBan(ban)}: ${holder}'s hold released; still held by ${[...ban.holders.keys()].join(", ")}`,
          );
        }
      }
      const items: PublishItem[] = [];
      const hosts = new Set<string>();
      removed.forEach((ban, index) => {
        const applyId = removed.length === 1 ? origin.id : `${index}.${origin.id}`.slice(0, LIMITS.messageId);
        if (applyId !== origin.id) this.#replies.alias(applyId, origin.id);
        for (const route of this.#targetsOf(ban.to, ban.ip, routing, origin.id, true)) {
          if (route.peer.protocol === 2) {
            items.push(this.#apply(route, "unban", ban, applyId, origin.timestamp));
            hosts.add(route.peer.name);
            this.#drift.sent(route.peer.name, applyId, {
              op: "unban",
              key: ban.key,
              expiresAt: ban.expiresAt,
            });
          } else {
            items.push(this.#legacyExec(route, "actionunban", ban, origin));
          }
        }
      });
      if (origin.replyTo !== undefined)
        this.#replies.expect(origin.id, origin.replyTo, [...hosts], origin.publisher);
      if (removed.length === 0) {
        this.#logger.info(
          { id: origin.id, ip: message.ip },
          `unban ${message.ip}: not in the ledger, nothing to do`,
        );
      } else {
        this.#logger.info(
          {
            id: origin.id,
            publisher: origin.publisher,
            cmd: "unban",
            ip: message.ip,
            bans: removed.length,
            clients: hosts.size,
            viaExec,
          },
          `Forwarding: unban ${message.ip} (${removed.map(describeBan).join(", ")})`,
        );
      }
      await this.#options.broker.publishAll(items);
      if (origin.replyTo !== undefined) {
        await this.#replies.accepted(
          origin.replyTo,
          { requestId: origin.id, hosts: [...hosts], change: removed.length === 0 ? "none" : "removed" },
          origin.publisher,
        );
      }
      return "ack";
    });
  }

  async #status(message: StatusMessage, routing: Routing, publisher: string): Promise<void> {
    const bans = this.#ledger
      .active()
      .filter((ban) => message.ip === undefined || ban.ip === message.ip)
      .map((ban) => {
        const hosts: Record<string, StateMessage["bans"][number]["hosts"][string]> = {};
        for (const route of this.#targetsOf(ban.to, ban.ip, routing, message.id, true)) {
          if (route.peer.protocol !== 2) continue;
          hosts[route.peer.name] = ban.hosts.get(route.peer.name) ?? { state: "pending", at: ban.updatedAt };
        }
        return {
          file: ban.file,
          name: ban.name,
          ip: ban.ip,
          expiresAt: ban.expiresAt,
          createdAt: ban.createdAt,
          updatedAt: ban.updatedAt,
          publisher: ban.publisher,
          holders: Object.fromEntries(ban.holders),
          hosts,
        };
      });
    const parts = split(bans);
    const items = parts.flatMap((part, seq) => {
      const body = this.#replies.seal(
        {
          cmd: "state",
          requestId: message.id,
          seq,
          last: seq === parts.length - 1,
          bans: part,
          timestamp: this.#now() / 1000,
          id: `${seq}.${message.id}`.slice(0, LIMITS.messageId),
          sender: SERVER_SENDER,
        },
        publisher,
      );
      return body === undefined ? [] : [{ queue: message.replyTo, body }];
    });
    await this.#options.broker.publishAll(items).catch((error: unknown) => {
      this.#logger.info({ err: error, replyTo: message.replyTo }, "status: the caller's reply queue is gone");
    });
  }

  /**
   * The clients a ban is for: every client or those of `to`, less those whose own ignoreip protects the
   * address (unbans go everywhere the ban could be).
   */
  #targetsOf(to: readonly string[] | null, ip: string, routing: Routing, id: string, quiet = false): Route[] {
    const named =
      to === null
        ? [...routing.routes.values()]
        : to.flatMap((name) => {
            const route = routing.routes.get(name);
            if (route === undefined && !quiet) {
              this.#logger.warn({ id, client: name }, `request names unknown client "${name}", skipped`);
            }
            return route === undefined ? [] : [route];
          });
    return named.filter((route) => {
      const own = checkBan(route.allowlist, { action: "actionban", params: { ip } });
      if (own !== undefined && !quiet) {
        this.#logger.warn(
          { id, client: route.peer.name, ignoreip: own.entry?.source },
          `${own.message}; not forwarded to ${route.peer.name}`,
        );
      }
      return own === undefined;
    });
  }

  #apply(route: Route, op: "ban" | "unban", ban: LedgerBan, id: string, requestedAt: number): PublishItem {
    const message: ApplyMessage = {
      cmd: "apply",
      op,
      file: ban.file,
      name: ban.name,
      ip: ban.ip,
      params: ban.params,
      ...(op === "ban" ? { expiresAt: ban.expiresAt } : {}),
      requestedAt,
      timestamp: this.#now() / 1000,
      id,
      sender: SERVER_SENDER,
    };
    return { queue: route.peer.queue, body: route.codec.seal(message), messageId: id };
  }

  /** A v1 client cannot hold state: it gets the exec the original would have sent. */
  #legacyExec(
    route: Route,
    action: "actionban" | "actionunban",
    ban: LedgerBan,
    origin: Origin,
  ): PublishItem {
    const id = `${action === "actionban" ? "b" : "u"}.${randomUUID()}`;
    const body = route.codec.seal({
      cmd: "exec",
      file: ban.file,
      action,
      params: { ...ban.params, name: ban.name, ip: ban.ip },
      timestamp: this.#now() / 1000,
      id,
      sender: origin.sender,
    });
    return { queue: route.peer.queue, body, messageId: id };
  }

  // --- catch-up and drift ---------------------------------------------------------------------------

  /** The active bans `route`'s agent must hold. */
  #expectedFor(route: Route): LedgerBan[] {
    return this.#ledger.active().filter((ban) => mustHold(route, ban));
  }

  /** Sends `route` the whole set it must hold, in parts; runs under the lock. */
  async #sendSync(route: Route, reason: string): Promise<void> {
    const expected = this.#expectedFor(route);
    const parts = split(expected.map(heldBan));
    const syncId = randomUUID();
    const at = this.#now() / 1000;
    const items = parts.map((bans, seq) => {
      const message: SyncMessage = {
        cmd: "sync",
        syncId,
        seq,
        last: seq === parts.length - 1,
        bans,
        timestamp: at,
        id: `${syncId}.${seq}`,
        sender: SERVER_SENDER,
      };
      return { queue: route.peer.queue, body: route.codec.seal(message), messageId: message.id };
    });
    this.#drift.sent(route.peer.name, syncId);
    await this.#options.broker.publishAll(items);
    await this.#ledger.setHostStates(
      expected
        .filter((ban) => ban.hosts.get(route.peer.name)?.state !== "applied")
        .map((ban) => ({ key: ban.key, host: route.peer.name, status: { state: "pending" as const, at } })),
    );
    this.#metrics?.syncs.inc({ reason });
    this.#logger.info(
      { client: route.peer.name, bans: expected.length, parts: parts.length, reason },
      `sync to ${route.peer.name}: ${expected.length} active ban(s)`,
    );
  }

  // --- expiry ---------------------------------------------------------------------------------------

  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (this.#stopped) return;
    const next = this.#ledger.nextExpiry();
    if (next === undefined) return;
    const delay = Math.min(Math.max(0, next * 1000 - this.#now()), 2_147_483_647);
    this.#expiryTimer = setTimeout(() => {
      this.#locked(() => this.#expire()).catch((error: unknown) =>
        this.#logger.error({ err: error }, "ledger: expiry failed; retrying"),
      );
    }, delay);
    this.#expiryTimer.unref();
  }

  /** Removes ended bans; v1 clients (which cannot lift bans by themselves) get the unban. Under the lock. */
  async #expire(): Promise<void> {
    try {
      const ended = await this.#ledger.expire();
      if (ended.length === 0) return;
      this.#drift.ended(ended);
      this.#metrics?.expired.inc({}, ended.length);
      const routing = this.#routing;
      const items: PublishItem[] = [];
      for (const ban of ended) {
        this.#logger.info({ file: ban.file, name: ban.name, ip: ban.ip }, `ban ${describeBan(ban)} ended`);
        if (routing === undefined) continue;
        for (const route of this.#targetsOf(ban.to, ban.ip, routing, ban.requestId, true)) {
          if (route.peer.protocol === 1) {
            items.push(
              this.#legacyExec(route, "actionunban", ban, {
                id: ban.requestId,
                sender: SERVER_SENDER,
                publisher: "server",
                timestamp: 0,
                replyTo: undefined,
              }),
            );
          }
        }
      }
      if (items.length > 0) await this.#options.broker.publishAll(items);
    } finally {
      this.#armExpiry();
    }
  }

  /** Ledger changes and what they send go one at a time, so every agent sees them in ledger order. */
  #locked<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(task);
    this.#lock = run.catch(() => undefined);
    return run;
  }
}

/**
 * Opens the ban state of a server (the ledger in state_dir/server) and, when `metrics` is set, serves
 * Prometheus metrics there. Pass `state` to Net2banServer.create; call close() after server.stop().
 */
export async function setUpBanState(options: {
  config: Net2banConfig;
  broker: Broker;
  logger: Logger;
  keyCache: KeyCache;
  metrics?: { host: string; port: number } | undefined;
}): Promise<{ state: ServerState; close(): Promise<void> }> {
  const registry = new MetricsRegistry();
  const state = await ServerState.open({ ...options, metrics: registry });
  const queues = [options.config.server?.queue, state.resultsQueue].filter(
    (q): q is string => q !== undefined,
  );
  registerQueueDepth(registry, options.broker, queues);
  const server =
    options.metrics === undefined
      ? undefined
      : await startMetricsServer({ ...options.metrics, registry, logger: options.logger });
  return { state, close: async () => server?.close() };
}
