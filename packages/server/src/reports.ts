// The agents' reports on <queue_prefix>results, each sealed by the agent that sent it: results set the
// hosts' states in the ledger and go on to a waiting net2banctl; digests are judged (drift.ts), and one
// that differs gets the agent the whole set it must hold.
import { checkBan, type PeerConfig } from "@net2ban/config";
import type { HostStatus, Ledger, LedgerBan } from "@net2ban/ledger";
import {
  type Codec,
  createCodec,
  type KeyCache,
  MessageRejectedError,
  type OpenedMessage,
} from "@net2ban/protocol";
import { type DigestMessage, type ResultMessage, readV2KeyId } from "@net2ban/protocol/fleet";
import type { Logger } from "@net2ban/runtime";
import type { Delivery, Verdict } from "@net2ban/transport";
import type { DriftJudge, JudgedAgent } from "./drift.js";
import type { ServerMetrics } from "./metrics.js";
import type { Replies } from "./replies.js";
import { ReportGuards } from "./report-guard.js";
import type { Route, Routing } from "./server.js";
import type { SyncLimiter } from "./sync-limiter.js";

/** Whether `route`'s agent must hold `ban` (its `to`, its own ignoreip). */
export function mustHold(route: Route, ban: LedgerBan): boolean {
  return (
    (ban.to === null || ban.to.includes(route.peer.name)) &&
    checkBan(route.allowlist, { action: "actionban", params: { ip: ban.ip } }) === undefined
  );
}

export interface AgentReportsOptions {
  ledger: Ledger;
  drift: DriftJudge;
  replies: Replies;
  syncs: SyncLimiter;
  logger: Logger;
  keyCache: KeyCache;
  /** [server] valid_wtime: how old a report may be (report-guard.ts). */
  validWindowSeconds: number;
  /** Clock in milliseconds since the epoch. */
  now: () => number;
  metrics?: ServerMetrics | undefined;
  /** The server's routing as it is now (it changes on SIGHUP). */
  routing: () => Routing | undefined;
  /** Runs `task` under the ledger lock (state.ts). */
  locked: <T>(task: () => Promise<T>) => Promise<T>;
  /** Sends `route` the whole set it must hold; called under the lock. */
  sendSync: (route: Route, reason: string) => Promise<void>;
}

/** Handles the messages of the results queue. */
export class AgentReports {
  readonly #options: AgentReportsOptions;
  readonly #logger: Logger;
  readonly #guards: ReportGuards;
  readonly #resultCodecs = new Map<string, { peer: PeerConfig; codec: Promise<Codec> }>();

  constructor(options: AgentReportsOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#guards = new ReportGuards({ validWindowSeconds: options.validWindowSeconds, now: options.now });
  }

  /** A client removed from the config. */
  forget(client: string): void {
    this.#resultCodecs.delete(client);
    this.#guards.forgetClient(client);
  }

  /** One message from the results queue: a result or a digest, sealed by the agent that sent it. */
  async handle(delivery: Delivery): Promise<Verdict> {
    const routing = this.#options.routing();
    const client = readV2KeyId(delivery.body, "from-agent");
    const route = client === undefined ? undefined : routing?.routes.get(client);
    if (route === undefined || route.peer.protocol !== 2) {
      this.#logger.warn({ client, bytes: delivery.body.length }, "report from an unknown client rejected");
      return "reject";
    }
    let opened: OpenedMessage;
    try {
      opened = (await this.#resultCodec(route.peer)).open(delivery.body);
      this.#guards.check(route.peer.name, opened);
    } catch (error) {
      if (error instanceof MessageRejectedError) {
        this.#logger.warn({ client, reason: error.reason }, "report rejected");
        return "reject";
      }
      throw error;
    }
    const message = opened.message;
    if (message.cmd === "result") await this.#onResult(message);
    else if (message.cmd === "digest") await this.#onDigest(message, route);
    return "ack";
  }

  #resultCodec(peer: PeerConfig): Promise<Codec> {
    const cached = this.#resultCodecs.get(peer.name);
    if (cached !== undefined && cached.peer === peer) return cached.codec;
    const codec = createCodec({
      protocol: 2,
      keyId: peer.name,
      direction: "from-agent",
      keys: peer,
      cache: this.#options.keyCache,
    });
    this.#resultCodecs.set(peer.name, { peer, codec });
    return codec;
  }

  async #onResult(result: ResultMessage): Promise<void> {
    this.#options.drift.resultArrived(result.client, result.requestId, result.timestamp);
    this.#options.metrics?.results.inc({ op: result.op ?? "exec", outcome: result.ok ? "ok" : "failed" });
    if (result.ok && result.latencySeconds !== undefined && (result.op === "ban" || result.op === "exec")) {
      this.#options.metrics?.latency.observe(result.latencySeconds);
    }
    if (result.file !== undefined && result.name !== undefined && result.ip !== undefined) {
      const ban = this.#options.ledger.get({ file: result.file, name: result.name, ip: result.ip });
      const op = result.op;
      if (ban !== undefined && (op === "ban" || op === "extend" || op === "sync")) {
        const status: HostStatus = result.ok
          ? { state: "applied", at: result.timestamp }
          : {
              state: "failed",
              at: result.timestamp,
              exitCode: result.exitCode,
              ...(result.detail === undefined ? {} : { detail: result.detail }),
            };
        await this.#options.ledger.setHostStates([{ key: ban.key, host: result.client, status }]);
      }
    }
    await this.#options.replies.result(result);
  }

  /**
   * Under the lock: the ledger and the commands on their way are seen as they were sent (a ban is in the
   * ledger before its apply goes out, and a digest judged in between would count it as drift).
   */
  #onDigest(digest: DigestMessage, route: Route): Promise<void> {
    return this.#options.locked(() => this.#judgeDigest(digest, route));
  }

  async #judgeDigest(digest: DigestMessage, route: Route): Promise<void> {
    const name = route.peer.name;
    const expected = this.#options.ledger.active().filter((ban) => mustHold(route, ban));
    const agent: JudgedAgent = {
      name,
      validWindowSeconds: route.peer.validWindowSeconds,
      holds: (ban) => mustHold(route, ban),
    };
    const judgement = this.#options.drift.judge(agent, digest, expected);
    const mine = judgement.ledger;
    if (judgement.verdict === "holds-all") {
      // The agent holds every ban it should: what was pending there is applied (its results may be lost).
      const at = digest.timestamp;
      const confirmed = expected.filter((ban) => {
        const status = ban.hosts.get(name);
        return (
          status === undefined ||
          status.state === "pending" ||
          (status.state === "failed" && !status.detail?.includes(" refused: "))
        );
      });
      await this.#options.ledger.setHostStates(
        confirmed.map((ban) => ({ key: ban.key, host: name, status: { state: "applied" as const, at } })),
      );
      this.#options.syncs.settled(name);
      return;
    }
    if (judgement.verdict === "behind") {
      // Not drift: commands sent to it since were not carried out yet when it made the digest.
      this.#logger.debug(
        { client: name, agentHolds: digest.count, ledgerHas: mine.count, reason: digest.reason },
        `digest of ${name} predates ${judgement.behind}; not drift`,
      );
      return;
    }
    if (digest.reason === "interval" || digest.reason === "sync") {
      this.#options.metrics?.drift.inc({ client: name });
      this.#logger.warn(
        {
          client: name,
          agentHolds: digest.count,
          ledgerHas: mine.count,
          missingOnHost: digest.missing ?? 0,
          reason: digest.reason,
        },
        `drift on ${name}: it holds ${digest.count} ban(s), the ledger has ${mine.count}; sending the set`,
      );
    } else {
      this.#logger.info(
        { client: name, agentHolds: digest.count, ledgerHas: mine.count, reason: digest.reason },
        `catch-up for ${name}: it holds ${digest.count} ban(s), the ledger has ${mine.count}`,
      );
    }
    // At most one whole set per agent per interval: a later one is folded into a sync at its end.
    if (this.#options.syncs.take(name, digest.reason)) await this.#options.sendSync(route, digest.reason);
  }
}
