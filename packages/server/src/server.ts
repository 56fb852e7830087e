// net2ban-server: opens requests from the input queue and re-seals them for every agent's queue.
import { ParamPolicy, type ParamRefusedError } from "@net2ban/actions";
import {
  Allowlist,
  allowParamsFor,
  checkBan,
  describeAllowParams,
  type Net2banConfig,
  type PeerConfig,
  type ProtectedAddressesOptions,
  type PublisherConfig,
  protectedAddresses,
} from "@net2ban/config";
import {
  type Codec,
  createCodec,
  FreshnessGuard,
  KeyCache,
  MessageRejectedError,
  type Net2banMessage,
  type OpenedMessage,
} from "@net2ban/protocol";
import { readV2KeyId } from "@net2ban/protocol/fleet";
import type { Logger } from "@net2ban/runtime";
import type { Broker, Consumer, Delivery, Verdict } from "@net2ban/transport";
import { holdBack } from "./held-back.js";
import { inMemoryRequestGuard, type RequestGuard } from "./request-memory.js";
import { BanRate, commandOf, type RightRefusal, rightsRefusal } from "./rights.js";
import type { ServerState } from "./state.js";

export interface ServerOptions {
  broker: Broker;
  logger: Logger;
  /** Shared across reloads so that a client's keys are derived once per process. */
  keyCache?: KeyCache;
  /** Clock in milliseconds since the epoch (tests move it). */
  now?: () => number;
  /**
   * Where the always-protected addresses come from (default: this host's interfaces and the broker
   * hosts resolved through DNS at start and reload); tests pass fixed answers.
   */
  protectedAddresses?: Pick<ProtectedAddressesOptions, "localAddresses" | "resolveHost">;
  /**
   * The ban state (state.ts: ledger, expiry, catch-up, results, --wait and status); without it the server
   * forwards exec and update only, as before.
   */
  state?: ServerState;
}

/** Where a client's copies go, and how they are sealed (state.ts takes the same). */
export interface Route {
  peer: PeerConfig;
  codec: Codec;
  /** The client's own `ignoreip` (the fleet-wide list is checked before). */
  allowlist: Allowlist;
}

/** The key id of requests sealed with the [server] key; no publisher may take this name. */
export const SERVER_KEY_ID = "server";

/** A publisher's codecs: its requests (to-server) and the replies to its --wait and status (from-server). */
export interface PublisherRoute {
  config: PublisherConfig;
  codec: Codec;
  replyCodec: Codec;
  /** Its own `allow_params`, when its section sets them (checked besides the server's). */
  paramPolicy?: ParamPolicy;
}

export interface Routing {
  input: PeerConfig;
  inputCodec: Codec;
  /** By name, which is the key id of their requests. */
  publishers: Map<string, PublisherRoute>;
  /** `[server] accept_server_key`: requests under key id "server" are taken. */
  acceptServerKey: boolean;
  /** `bantime`: what a ban without a duration lasts (judging a publisher's max_bantime). */
  banTimeSeconds: number | null;
  routes: Map<string, Route>;
  prefetch: number;
  /** [global] + [server] ignoreip and the defaults (loopback, broker, this server's addresses). */
  allowlist: Allowlist;
  /** input_exchange and dead_letter_exchange: named exchanges for least-privilege logins. */
  exchanges: { input?: string | undefined; deadLetter?: string | undefined };
  /** What a request may set for an action: [global] + [server] allow_params (net2banctl checks the same). */
  paramPolicy: ParamPolicy;
}

/** Thrown when the config cannot run a server (no [server] section). */
export class ServerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ServerConfigError";
  }
}

async function buildRouting(
  config: Net2banConfig,
  keyCache: KeyCache,
  options: ServerOptions,
): Promise<Routing> {
  const input = config.server;
  if (input === undefined) {
    throw new ServerConfigError(
      `${config.path}: [server] key: missing; a server needs the [server] section (is this an exported client file?)`,
    );
  }
  const inputCodec = await createCodec({
    protocol: input.protocol,
    keyId: "server",
    direction: "to-server",
    keys: input,
    cache: keyCache,
  });
  // Derivations run concurrently; the cache makes a reload derive only new or changed clients. The map is
  // filled afterwards, in the config's order: whatever lists hosts (logs, accepted, status) lists them in
  // that order, not in the order the derivations happened to finish.
  const built = await Promise.all(
    config.clients.map(async (peer): Promise<Route> => {
      const codec = await createCodec({
        protocol: peer.protocol,
        keyId: peer.name,
        direction: "to-agent",
        keys: peer,
        cache: keyCache,
      });
      const allowlist = Allowlist.of(`[${peer.name}]`, config.ignoreIp[peer.name] ?? []);
      return { peer, codec, allowlist };
    }),
  );
  const routes = new Map<string, Route>(built.map((route) => [route.peer.name, route]));
  const defaults = await protectedAddresses({
    brokerUrls: config.broker.urls,
    ...options.protectedAddresses,
    onWarning: (line) => options.logger.warn({}, line),
  });
  const allowlist = Allowlist.of("[global]", config.ignoreIp["global"] ?? [])
    .concat(Allowlist.of("[server]", config.ignoreIp["server"] ?? []))
    .concat(defaults);
  const exchanges = { input: config.broker.inputExchange, deadLetter: config.broker.deadLetterExchange };
  const paramPolicy = ParamPolicy.of(allowParamsFor(config, "server"), describeAllowParams("server"));
  const publishers = new Map<string, PublisherRoute>();
  for (const publisher of config.publishers) {
    const keys = { protocol: 2 as const, keyId: publisher.name, keys: publisher, cache: keyCache };
    const [codec, replyCodec] = await Promise.all([
      createCodec({ ...keys, direction: "to-server" }),
      createCodec({ ...keys, direction: "from-server" }),
    ]);
    const section = `publisher:${publisher.name}`;
    const own = config.allowParams[section];
    publishers.set(publisher.name, {
      config: publisher,
      codec,
      replyCodec,
      ...(own === undefined ? {} : { paramPolicy: ParamPolicy.of(own, `allow_params of [${section}]`) }),
    });
  }
  return {
    input,
    inputCodec,
    publishers,
    acceptServerKey: config.acceptServerKey,
    banTimeSeconds: config.state.banTimeSeconds,
    routes,
    prefetch: config.broker.prefetch,
    allowlist,
    exchanges,
    paramPolicy,
  };
}

/** A stable id for a v1 request (it has none), so agents can deduplicate a re-forwarded v1 request. */
function requestId(opened: OpenedMessage): string {
  const message = opened.message;
  return "id" in message && typeof message.id === "string"
    ? message.id
    : `v1-${opened.replayKey.slice(0, 32)}`;
}

/** The policy's refusal of the params an exec or a ban request sets (a ban's jail is its `name`). */
function paramRefusal(policy: ParamPolicy, message: Net2banMessage): ParamRefusedError | undefined {
  if (message.cmd === "exec") return policy.refusal(message.file, message.params);
  if (message.cmd === "ban") return policy.refusal(message.file, { ...message.params, name: message.name });
  return undefined;
}

export class Net2banServer {
  readonly #broker: Broker;
  readonly #logger: Logger;
  readonly #keyCache: KeyCache;
  readonly #now: () => number;
  readonly #options: ServerOptions;
  #routing: Routing;
  #guard: RequestGuard;
  #consumer: Consumer | undefined;
  readonly #banRate: BanRate;

  private constructor(routing: Routing, options: ServerOptions, keyCache: KeyCache) {
    this.#broker = options.broker;
    this.#logger = options.logger;
    this.#keyCache = keyCache;
    this.#now = options.now ?? Date.now;
    this.#options = options;
    this.#routing = routing;
    this.#guard = this.#makeGuard(routing.input);
    this.#banRate = new BanRate(this.#now);
  }

  /** Derives every key once and returns a server ready to `start()`. */
  static async create(config: Net2banConfig, options: ServerOptions): Promise<Net2banServer> {
    const keyCache = options.keyCache ?? new KeyCache();
    const routing = await buildRouting(config, keyCache, options);
    return new Net2banServer(routing, options, keyCache);
  }

  /** The ban state's replay memory on disk (state_dir), else one in memory only. */
  #makeGuard(input: PeerConfig): RequestGuard {
    const persisted = this.#options.state?.requests;
    if (persisted !== undefined) {
      persisted.validWindowSeconds = input.validWindowSeconds;
      return persisted;
    }
    return inMemoryRequestGuard(
      new FreshnessGuard({ validWindowSeconds: input.validWindowSeconds, now: this.#now }),
    );
  }

  get clients(): string[] {
    return [...this.#routing.routes.keys()];
  }

  async start(): Promise<void> {
    const { input, routes, prefetch } = this.#routing;
    await this.#declareQueues(this.#routing);
    this.#consumer = await this.#broker.consume(
      { prefetch, queue: { name: input.queue, queueType: input.queueType } },
      (delivery) => this.handleRequest(delivery),
    );
    await this.#options.state?.start(this.#routing);
    this.#logger.info(
      { input: input.queue, clients: routes.size },
      `net2ban server started: ${routes.size} clients, input ${input.queue}`,
    );
  }

  /**
   * Declares the input queue and every client's queue. The server holds the broker rights the other
   * logins lack: with input_exchange it binds the input queue there (net2banctl's publish-only login
   * writes to that exchange), with dead_letter_exchange it binds every `.dead` queue there (agents'
   * logins dead-letter through it). Idempotent, so a reload runs it again for new clients.
   */
  async #declareQueues(routing: Routing): Promise<void> {
    const { input, routes, exchanges } = routing;
    const specs = [input, ...[...routes.values()].map((r) => r.peer)].map((peer) => ({
      name: peer.queue,
      queueType: peer.queueType,
    }));
    for (const queue of specs) await this.#broker.assertQueue(queue);
    const [inputSpec] = specs;
    if (exchanges.input !== undefined && inputSpec !== undefined) {
      await this.#broker.bindQueue({ exchange: exchanges.input, exchangeType: "direct", queue: inputSpec });
    }
    if (exchanges.deadLetter !== undefined) {
      for (const queue of specs) {
        await this.#broker.bindQueue({
          exchange: exchanges.deadLetter,
          exchangeType: "topic",
          queue,
          deadLetter: true,
        });
      }
    }
  }

  /** SIGHUP: new, changed and removed clients take effect without a restart. */
  async reload(config: Net2banConfig): Promise<void> {
    const next = await buildRouting(config, this.#keyCache, this.#options);
    if (next.input.queue !== this.#routing.input.queue) {
      this.#logger.warn({ input: next.input.queue }, "[server] input changed: restart the server to use it");
      next.input = this.#routing.input;
      next.inputCodec = this.#routing.inputCodec;
    }
    await this.#declareQueues(next);
    const added = [...next.routes.keys()].filter((n) => !this.#routing.routes.has(n));
    const removed = [...this.#routing.routes.keys()].filter((n) => !next.routes.has(n));
    if (next.input.validWindowSeconds !== this.#routing.input.validWindowSeconds) {
      this.#guard = this.#makeGuard(next.input);
    }
    // A publisher whose section is gone is unknown from here on: its next request is rejected.
    const revoked = [...this.#routing.publishers.keys()].filter((n) => !next.publishers.has(n));
    for (const name of revoked) this.#logger.warn({ publisher: name }, `publisher ${name} revoked`);
    this.#routing = next;
    this.#banRate.keep(new Set(next.publishers.keys()));
    this.#logger.info(
      { clients: next.routes.size, added, removed, publishers: next.publishers.size },
      "configuration reloaded",
    );
    await this.#options.state?.reload(next, added, removed);
  }

  /** Stops taking requests and waits until the ones in flight are forwarded and acknowledged. */
  async stop(): Promise<void> {
    await this.#consumer?.cancel();
    this.#consumer = undefined;
    await this.#options.state?.stop();
  }

  /**
   * One request from the input queue. "ack" only once every agent's copy is confirmed by the broker;
   * anything that can never be forwarded is "reject" (dead-lettered) with one log line.
   */
  async handleRequest(delivery: Delivery): Promise<Verdict> {
    const routing = this.#routing;
    const sealer = this.#sealer(delivery, routing);
    if (sealer === undefined) return "reject";
    const publisher = sealer.publisher;
    const by = publisher?.config.name ?? SERVER_KEY_ID;
    let opened: OpenedMessage;
    try {
      opened = sealer.codec.open(delivery.body);
      this.#guard.check(opened);
    } catch (error) {
      if (error instanceof MessageRejectedError) {
        if (error.reason === "replay" && delivery.redelivered && this.#guard.wasTaken(opened!)) {
          // The server stopped between remembering it and acknowledging it: done already, not an attack.
          this.#logger.info({ bytes: delivery.body.length }, "request redelivered after it was carried out");
          return "ack";
        }
        this.#logger.warn(
          {
            reason: error.reason,
            publisher: by,
            bytes: delivery.body.length,
            redelivered: delivery.redelivered,
          },
          "message rejected",
        );
        return "reject";
      }
      throw error;
    }
    let message = opened.message;
    const id = requestId(opened);
    const state = this.#options.state;
    if (publisher !== undefined) {
      const denied = this.#rightsRefusal(publisher, message, routing);
      if (denied !== undefined) {
        this.#logger.warn(
          { id, publisher: by, right: denied.right, cmd: message.cmd },
          `${denied.message}; request dropped`,
        );
        this.#guard.forget(opened);
        await state?.refused(message, id, denied.message, by);
        return "reject";
      }
      const allowed = publisher.config.rights.to;
      if (allowed !== "*" && (message.cmd === "exec" || message.cmd === "ban") && message.to === undefined) {
        // A publisher limited to some clients reaches those when it names none.
        message = { ...message, to: [...allowed] } as Net2banMessage;
        opened = { ...opened, message };
      }
    }
    const refusal =
      paramRefusal(routing.paramPolicy, message) ??
      (publisher?.paramPolicy === undefined ? undefined : paramRefusal(publisher.paramPolicy, message));
    if (refusal !== undefined) {
      // Whoever holds a key can write here: a param outside the policy never reaches an agent.
      this.#logger.warn(
        {
          id,
          publisher: by,
          cmd: message.cmd,
          file: "file" in message ? message.file : undefined,
          param: refusal.param,
        },
        `${refusal.message}; request dropped`,
      );
      this.#guard.forget(opened);
      await state?.refused(message, id, refusal.message, by);
      return "reject";
    }
    if (state !== undefined) {
      // ban, unban, status, and fail2ban's exec with a bantime go through the ledger.
      let verdict: Verdict | undefined;
      try {
        verdict = await state.handleRequest(opened, routing, id, by);
      } catch (error) {
        this.#guard.forget(opened);
        const held = await holdBack(error, { id, logger: this.#logger });
        if (held !== undefined) return held;
        throw error;
      }
      if (verdict !== undefined) {
        if (verdict === "ack") await this.#guard.taken(opened);
        else this.#guard.forget(opened);
        return verdict;
      }
    }
    const targets = this.#targets(message, routing, id);
    if (targets === undefined) {
      this.#guard.forget(opened);
      return "reject";
    }
    const file = "file" in message ? message.file : "";
    this.#logger.info(
      { id, publisher: by, cmd: message.cmd, file, clients: targets.length },
      `Forwarding: ${message.cmd}/${file}`,
    );
    const forwarded = {
      ...message,
      id,
      sender: "sender" in message ? message.sender : "net2ban-v1",
    } as Net2banMessage;
    try {
      await this.#broker.publishAll(
        targets.map((route) => ({
          queue: route.peer.queue,
          // Sealed stably: forwarded again (the input redelivered, a publish unconfirmed, the server
          // restarted), the request reaches each agent as the same bytes. A v1 agent, which knows a
          // message only by its MAC, then drops the copy instead of running it twice.
          body: route.codec.seal(forwarded, { stableFor: opened.replayKey }),
          messageId: id,
        })),
      );
    } catch (error) {
      // Not acknowledged: the broker redelivers the request and it is forwarded again (agents dedupe by id).
      this.#guard.forget(opened);
      const held = await holdBack(error, { id, logger: this.#logger });
      if (held !== undefined) return held;
      throw error;
    }
    await state?.forwarded(
      message,
      id,
      targets.map((route) => route.peer),
      by,
    );
    await this.#guard.taken(opened);
    return "ack";
  }

  /**
   * The codec of the key that sealed `delivery`: a publisher's, by the v2 header's key id, else the
   * [server] key's. Undefined (logged, to be rejected) for a key id no publisher has, or for the [server]
   * key with accept_server_key = no.
   */
  #sealer(delivery: Delivery, routing: Routing): { codec: Codec; publisher?: PublisherRoute } | undefined {
    const keyId = readV2KeyId(delivery.body, "to-server");
    if (keyId !== undefined && keyId !== SERVER_KEY_ID) {
      const publisher = routing.publishers.get(keyId);
      if (publisher !== undefined) return { codec: publisher.codec, publisher };
      this.#logger.warn(
        { reason: "wrong-key-id", publisher: keyId.slice(0, 128), bytes: delivery.body.length },
        "message rejected",
      );
      return undefined;
    }
    if (!routing.acceptServerKey) {
      this.#logger.warn(
        { reason: "server-key-refused", publisher: SERVER_KEY_ID, bytes: delivery.body.length },
        "message rejected: the [server] key is not accepted (accept_server_key = no)",
      );
      return undefined;
    }
    return { codec: routing.inputCodec };
  }

  /** The right `publisher` lacks for `message`, if any; a ban within them takes one of its rate. */
  #rightsRefusal(
    publisher: PublisherRoute,
    message: Net2banMessage,
    routing: Routing,
  ): RightRefusal | undefined {
    const refusal = rightsRefusal(publisher.config, message, routing.banTimeSeconds);
    if (refusal !== undefined) return refusal;
    return commandOf(message) === "ban" ? this.#banRate.take(publisher.config) : undefined;
  }

  #targets(message: Net2banMessage, routing: Routing, id: string): Route[] | undefined {
    switch (message.cmd) {
      case "exec": {
        // Self-lockout guard: a ban of a protected address is dropped here, before any agent sees it.
        const refusal = checkBan(routing.allowlist, message);
        if (refusal !== undefined) {
          this.#logger.warn(
            { id, file: message.file, action: message.action, ignoreip: refusal.entry?.source },
            `${refusal.message}; request dropped`,
          );
          return undefined;
        }
        const named =
          message.to === undefined
            ? [...routing.routes.values()]
            : message.to.flatMap((name) => {
                const route = routing.routes.get(name);
                if (route === undefined) {
                  this.#logger.warn({ id, client: name }, `request names unknown client "${name}", skipped`);
                }
                return route === undefined ? [] : [route];
              });
        return named.filter((route) => {
          const own = checkBan(route.allowlist, message);
          if (own !== undefined) {
            this.#logger.warn(
              { id, client: route.peer.name, ignoreip: own.entry?.source },
              `${own.message}; not forwarded to ${route.peer.name}`,
            );
          }
          return own === undefined;
        });
      }
      case "update": {
        const route = routing.routes.get(message.client);
        if (route) return [route];
        this.#logger.warn({ id, client: message.client }, `update for unknown client "${message.client}"`);
        return undefined;
      }
      default:
        this.#logger.warn({ id, cmd: message.cmd }, `"${message.cmd}" is not a request the server forwards`);
        return undefined;
    }
  }
}
