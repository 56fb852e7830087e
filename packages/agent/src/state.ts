// The agent's part of the ban state: applies and lifts the ledger's bans (apply, sync), lifts them by
// itself at their end, and every drift_interval probes its bans and sends a digest of what it holds (also
// at start, after a reconnect and after a sync). The restore after a restart is restore.ts, what goes to
// the results queue is reports.ts, the metrics are registered in metrics.ts.
import { join } from "node:path";
import type { ActionEngine, ActionOutcome } from "@net2ban/actions";
import { type Allowlist, checkBan, type PeerConfig } from "@net2ban/config";
import { type BanIdentity, banKey, type StateLogger } from "@net2ban/ledger";
import { type Codec, createCodec, type KeyCache } from "@net2ban/protocol";
import type { ApplyMessage, DigestMessage, HeldBan, SyncMessage } from "@net2ban/protocol/fleet";
import { MetricsRegistry, registerQueueDepth, startMetricsServer } from "@net2ban/runtime";
import type { Broker } from "@net2ban/transport";
import { logActionOutcome } from "./action-log.js";
import type { CommandOutcome, CommandRun } from "./agent.js";
import { type AgentMetrics, registerAgentMetrics } from "./metrics.js";
import { BanProber } from "./probe.js";
import { type Outcome, outcomeOf, Reports } from "./reports.js";
import { actionParams, describeBan, HeldBanRestore } from "./restore.js";
import { BanSchedule, type ScheduledBan } from "./schedule.js";

/** The subset of a pino logger the agent's ban state writes to: the ledger's StateLogger and debug. */
export interface BanStateLogger extends StateLogger {
  debug(object: object, message?: string): void;
}

export interface AgentStateOptions {
  /** This agent's section; state needs protocol 2 (v1 has no results). */
  peer: PeerConfig;
  broker: Pick<Broker, "publish" | "on">;
  logger: BanStateLogger;
  /** Runs the actions (ActionEngine). */
  engine: Pick<ActionEngine, "execute">;
  schedule: BanSchedule;
  prober: BanProber;
  /** `queue_prefix` + `results`: where results and digests go (the server consumes it). */
  resultsQueue: string;
  /**
   * `dead_letter_exchange`, when set: results go through it (the server binds the results queue there),
   * since a least-privilege agent login may not publish to the default exchange.
   */
  resultsExchange?: string | undefined;
  /** Seconds between drift checks (probe, then digest). */
  driftIntervalSeconds: number;
  /** Bans this host refuses (see Net2banAgent). */
  allowlist: Allowlist;
  /** Runs a task in the agent's turn: one command at a time, in queue order. */
  serially: <T>(task: () => Promise<T>) => Promise<T>;
  keyCache?: KeyCache;
  metrics?: MetricsRegistry;
  /** Probes run in slices of this many per turn, so that commands are not held up (default 20). */
  probeSlice?: number;
}

const SYNCS_KEPT = 4;

interface SyncProgress {
  keys: Set<string>;
  next: number;
  complete: boolean;
}

/** Held bans, their ends and their reports, for a v2 agent. */
export class AgentState {
  readonly #options: AgentStateOptions;
  readonly #reports: Reports;
  readonly #restore: HeldBanRestore;
  readonly #logger: BanStateLogger;
  /** Bans this host refused by its own ignoreip: settled here, so they count in the digest. */
  readonly #refused = new Set<string>();
  readonly #syncs = new Map<string, SyncProgress>();
  #driftTimer: NodeJS.Timeout | undefined;
  #drifting = false;
  #running = false;
  /** The restore of held bans after a restart, while it runs (drift checks wait for it). */
  #restoring: Promise<void> | undefined;
  readonly #metrics: AgentMetrics | undefined;

  private constructor(options: AgentStateOptions, codec: Codec) {
    this.#options = options;
    this.#logger = options.logger;
    const metrics =
      options.metrics === undefined ? undefined : registerAgentMetrics(options.metrics, () => this.held);
    this.#metrics = metrics;
    this.#reports = new Reports({
      client: options.peer.name,
      codec,
      broker: options.broker,
      resultsQueue: options.resultsQueue,
      resultsExchange: options.resultsExchange,
      logger: options.logger,
      now: () => options.schedule.now(),
      ...(metrics === undefined ? {} : { observeLatency: (seconds) => metrics.latency.observe(seconds) }),
    });
    this.#restore = new HeldBanRestore({
      schedule: options.schedule,
      prober: options.prober,
      engine: options.engine,
      logger: options.logger,
      reports: this.#reports,
      serially: options.serially,
      slice: options.probeSlice ?? 20,
      running: () => this.#running,
      run: (ban, action, extra) => this.#run(ban, action, extra),
      expire: (ban) => this.#expire(ban),
      ...(metrics === undefined ? {} : { restored: metrics.restored }),
    });
  }

  static async create(options: AgentStateOptions): Promise<AgentState> {
    if (options.peer.protocol !== 2) {
      throw new TypeError(`"peer.protocol" ban state needs protocol 2, got ${options.peer.protocol}`);
    }
    const codec = await createCodec({
      protocol: 2,
      keyId: options.peer.name,
      direction: "from-agent",
      keys: options.peer,
      ...(options.keyCache === undefined ? {} : { cache: options.keyCache }),
    });
    return new AgentState(options, codec);
  }

  /** Bans held now. */
  get held(): number {
    return this.#options.schedule.size;
  }

  /**
   * Before the agent takes commands: undoes bans a crash left in doubt and lifts those whose end passed
   * while the agent was down (or, when a probe finds the rule gone already, only forgets them).
   */
  async prepare(): Promise<void> {
    const { schedule, serially } = this.#options;
    await serially(async () => {
      for (const ban of schedule.inDoubt()) {
        this.#logger.warn(
          { file: ban.file, name: ban.name, ip: ban.ip },
          `ban ${describeBan(ban)} was being applied when the agent stopped: undoing it (the server's catch-up applies it again if it is still active)`,
        );
        await this.#run(ban, "actionunban").catch(() => undefined);
        await schedule.release(ban.key);
      }
      for (const ban of schedule.overdue()) await this.#restore.expireWhileDown(ban);
    });
  }

  /**
   * Once the agent takes commands: the expiry timer, drift checks, the start digest (catch-up), and the
   * restore of the bans it holds (they run in the agent's turn, between the commands).
   */
  start(): void {
    const { schedule, broker, driftIntervalSeconds } = this.#options;
    this.#running = true;
    schedule.start();
    this.#driftTimer = setInterval(() => this.#driftCheck(), driftIntervalSeconds * 1000);
    this.#driftTimer.unref();
    broker.on("connected", () => {
      // The queue may have lost messages with the connection's node: ask for what is missing.
      if (this.#running) void this.#sendDigest("reconnect");
    });
    void this.#sendDigest("start");
    const restoring = this.#restore
      .restoreAll()
      .catch((error: unknown) => this.#logger.error({ err: error }, "restore after restart failed"))
      .finally(() => {
        if (this.#restoring === restoring) this.#restoring = undefined;
      });
    this.#restoring = restoring;
  }

  /** Resolves once the restore of held bans after start is over (at once when there is none). */
  async restored(): Promise<void> {
    await this.#restoring;
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#driftTimer);
    this.#driftTimer = undefined;
    // The restore stops after the ban it is at; the schedule must stay open until then.
    await this.#restoring;
    await this.#options.schedule.close();
  }

  /** Called by the schedule when held bans reach their end. */
  onDue(bans: ScheduledBan[]): void {
    void this.#options.serially(async () => {
      for (const ban of bans) {
        const current = this.#options.schedule.get(ban.key);
        // Extended meanwhile (the ledger's end moved): the schedule calls again later.
        if (
          current === undefined ||
          current.expiresAt === null ||
          current.expiresAt > this.#options.schedule.now()
        )
          continue;
        await this.#expire(current);
      }
    });
  }

  /** One `apply` command; runs in the agent's turn. */
  async apply(message: ApplyMessage): Promise<void> {
    const requested = { requestId: message.id, requestedAt: message.requestedAt };
    const outcome =
      message.op === "ban"
        ? await this.#ban({ ...message, expiresAt: message.expiresAt ?? null })
        : await this.#unban(message, "unban");
    this.#reports.result(message, outcome, requested);
  }

  /** One part of a `sync`; runs in the agent's turn. */
  async sync(message: SyncMessage): Promise<void> {
    let progress = this.#syncs.get(message.syncId);
    if (progress === undefined) {
      progress = { keys: new Set(), next: 0, complete: true };
      this.#syncs.set(message.syncId, progress);
      while (this.#syncs.size > SYNCS_KEPT) this.#syncs.delete(this.#syncs.keys().next().value as string);
    }
    if (message.seq !== progress.next) progress.complete = false;
    progress.next = message.seq + 1;
    let applied = 0;
    for (const ban of message.bans) {
      progress.keys.add(banKey(ban));
      const outcome = await this.#ban(ban);
      if (outcome.op === "ban" && outcome.ok) applied += 1;
      // Successes are confirmed all at once by the digest that follows; failures are reported one by one.
      if (!outcome.ok) this.#reports.result(ban, { ...outcome, op: "sync" }, { requestId: message.id });
    }
    this.#metrics?.syncApplied.inc({}, applied);
    if (!message.last) return;
    this.#syncs.delete(message.syncId);
    if (!progress.complete) {
      this.#logger.warn(
        { syncId: message.syncId },
        "sync: a part is missing (expired or rejected); bans not in it are kept until the next one",
      );
    } else {
      let lifted = 0;
      for (const held of this.#options.schedule.held()) {
        if (progress.keys.has(held.key)) continue;
        const outcome = await this.#unban(held, "unban");
        this.#reports.result(
          held,
          { ...outcome, detail: "not in the server's ledger any more" },
          { requestId: message.id },
        );
        lifted += 1;
      }
      for (const key of this.#refused) if (!progress.keys.has(key)) this.#refused.delete(key);
      this.#logger.info(
        { syncId: message.syncId, held: this.#options.schedule.size, applied, lifted },
        `sync done: ${applied} ban(s) applied, ${lifted} lifted, ${this.#options.schedule.size} held`,
      );
    }
    await this.#sendDigest("sync");
  }

  /** The result of an exec or update the agent ran (op exec / update). */
  reportCommand(message: CommandRun, outcome: CommandOutcome): void {
    if (message.cmd === "exec" && message.action !== undefined) {
      this.#metrics?.actions.inc({ action: message.action, outcome: outcome.ok ? "ok" : "failed" });
    }
    if (message.id === undefined) return;
    const ip = message.params?.["ip"];
    this.#reports.result(
      { file: message.file, ...(ip === undefined ? {} : { ip }) },
      { ...outcome, op: message.cmd },
      { requestId: message.id, requestedAt: message.timestamp },
    );
  }

  // --- actions ----------------------------------------------------------------------------------------

  async #ban(
    ban: HeldBan | (BanIdentity & { params: Record<string, string>; expiresAt: number | null }),
  ): Promise<Outcome> {
    const { schedule, allowlist, logger } = { ...this.#options, logger: this.#logger };
    const key = banKey(ban);
    if (ban.expiresAt !== null && ban.expiresAt <= schedule.now()) {
      return { ok: true, exitCode: 0, durationMs: 0, op: "skip", detail: "ended before it arrived" };
    }
    const refusal = checkBan(allowlist, { action: "actionban", params: { ip: ban.ip } });
    if (refusal !== undefined) {
      this.#refused.add(key);
      logger.warn({ file: ban.file, name: ban.name, ip: ban.ip }, `${refusal.message}; not applied`);
      return { ok: false, exitCode: null, durationMs: 0, op: "ban", detail: refusal.message };
    }
    const held = schedule.get(key);
    if (held !== undefined) {
      await schedule.setEnd(key, ban.expiresAt);
      logger.debug(
        { file: ban.file, name: ban.name, ip: ban.ip, expiresAt: ban.expiresAt },
        `IP ${ban.ip} ban extended`,
      );
      return { ok: true, exitCode: 0, durationMs: 0, op: "extend" };
    }
    const entry = await schedule.begin(ban);
    let outcome: ActionOutcome;
    try {
      outcome = await this.#run(ban, "actionban");
    } catch (error) {
      await schedule.release(key);
      logger.error(
        { err: error, file: ban.file, ip: ban.ip },
        `${ban.file}/actionban refused: ${(error as Error).message}`,
      );
      return { ok: false, exitCode: null, durationMs: 0, op: "ban", detail: (error as Error).message };
    }
    if (outcome.ok) await schedule.hold(entry);
    else await schedule.release(key);
    logActionOutcome(
      logger,
      { file: ban.file, action: "actionban", name: ban.name, ip: ban.ip, expiresAt: ban.expiresAt },
      outcome,
    );
    return { ...outcomeOf(outcome), op: "ban" };
  }

  /** Lifts a held ban with the params it was applied with; nothing to do when it is not held here. */
  async #unban(identity: BanIdentity, op: "unban" | "expire"): Promise<Outcome> {
    const { schedule } = this.#options;
    const key = banKey(identity);
    this.#refused.delete(key);
    const held = schedule.get(key);
    if (held === undefined) {
      return { ok: true, exitCode: 0, durationMs: 0, op: "skip", detail: "not applied here" };
    }
    let outcome: ActionOutcome;
    try {
      outcome = await this.#run(held, "actionunban");
    } catch (error) {
      await schedule.release(key);
      this.#logger.error(
        { err: error, file: held.file, ip: held.ip },
        `${held.file}/actionunban refused: ${(error as Error).message}`,
      );
      return { ok: false, exitCode: null, durationMs: 0, op, detail: (error as Error).message };
    }
    // Lifted or not, its time here is over: a failed unban is reported, not retried for ever.
    await schedule.release(key);
    logActionOutcome(
      this.#logger,
      { file: held.file, action: "actionunban", name: held.name, ip: held.ip, reason: op },
      outcome,
    );
    return { ...outcomeOf(outcome), op };
  }

  async #expire(ban: ScheduledBan): Promise<void> {
    const outcome = await this.#unban(ban, "expire");
    this.#reports.result(ban, outcome, { requestId: `expire.${ban.appliedAt}` });
  }

  async #run(
    ban: BanIdentity & { params: Record<string, string> },
    action: "actionban" | "actionunban",
    extra: Record<string, string> = {},
  ): Promise<ActionOutcome> {
    const outcome = await this.#options.engine.execute({
      file: ban.file,
      action,
      params: { ...actionParams(ban), ...extra },
    });
    this.#metrics?.actions.inc({ action, outcome: outcome.ok ? "ok" : "failed" });
    return outcome;
  }

  // --- drift ------------------------------------------------------------------------------------------

  #driftCheck(): void {
    // While the restore runs, a probe would find the bans it has not reached yet missing.
    if (this.#drifting || !this.#running || this.#restoring !== undefined) return;
    this.#drifting = true;
    this.#probeAll()
      .then((missing) => this.#sendDigest("interval", missing))
      .catch((error: unknown) => this.#logger.warn({ err: error }, "drift check failed"))
      .finally(() => {
        this.#drifting = false;
      });
  }

  /** Probes every held ban whose action has a probe; drops the ones gone from the host. */
  async #probeAll(): Promise<number> {
    const { schedule, prober, serially } = this.#options;
    const slice = this.#options.probeSlice ?? 20;
    const candidates = schedule.held().filter((ban) => prober.hasProbe(ban.file));
    let missing = 0;
    for (let i = 0; i < candidates.length && this.#running; i += slice) {
      // In the agent's turn: no action runs meanwhile, and no ban changes under the probe.
      missing += await serially(async () => {
        let gone = 0;
        for (const ban of candidates.slice(i, i + slice)) {
          const current = schedule.get(ban.key);
          if (current === undefined || current.appliedAt !== ban.appliedAt) continue;
          const outcome = await prober.probe({ file: ban.file, params: actionParams(ban) });
          if (outcome.state === "missing") {
            gone += 1;
            this.#metrics?.probeMissing.inc();
            this.#logger.warn(
              {
                file: ban.file,
                name: ban.name,
                ip: ban.ip,
                exitCode: outcome.exitCode,
                stderr: outcome.stderr,
              },
              `ban ${describeBan(ban)} is no longer in effect on this host (actionprobe exit ${outcome.exitCode}): dropped, the server sends it again`,
            );
            await schedule.release(ban.key);
          } else if (outcome.state === "unchecked") {
            this.#logger.debug(
              { file: ban.file, ip: ban.ip, reason: outcome.reason },
              "probe gave no answer",
            );
          }
        }
        return gone;
      });
    }
    return missing;
  }

  // --- reports ----------------------------------------------------------------------------------------

  /** The digest of what this host holds (and refused by its own ignoreip). */
  digest(): { count: number; hash: string } {
    return this.#options.schedule.digest(this.#refused);
  }

  #sendDigest(reason: DigestMessage["reason"], missing?: number): Promise<void> {
    return this.#reports.digest(reason, this.digest(), missing);
  }
}

/** What setUpBanState needs: the agent's pieces, already made. */
export interface BanStateSetup {
  config: {
    stateDir: string;
    state: { driftIntervalSeconds: number; resultsQueue: string };
    broker: { deadLetterExchange?: string | undefined };
    actionTimeoutSeconds: number;
  };
  peer: PeerConfig;
  agent: { attachState(state: AgentState): void; serially<T>(task: () => Promise<T>): Promise<T> };
  broker: Broker;
  engine: ActionEngine;
  actionsDir: string;
  allowlist: Allowlist;
  logger: BanStateLogger;
  /** `metrics` of the agent's section (metricsFor): where to serve Prometheus metrics, if anywhere. */
  metrics?: { host: string; port: number } | undefined;
  keyCache?: KeyCache;
}

/**
 * Gives a v2 agent its ban state: the schedule in state_dir/<client>/bans, probes, results and digests,
 * and the metrics endpoint when configured. A v1 agent gets none (v1 has no results): it runs exec only.
 * Returns what to close at shutdown after agent.stop().
 */
export async function setUpBanState(setup: BanStateSetup): Promise<{ close(): Promise<void> }> {
  const { config, peer, agent, broker, engine, logger } = setup;
  const registry = new MetricsRegistry();
  registerQueueDepth(registry, broker, [peer.queue]);
  if (peer.protocol === 2) {
    let state: AgentState | undefined;
    const schedule = await BanSchedule.open({
      dir: join(config.stateDir, peer.name),
      logger,
      onDue: (bans) => state?.onDue(bans),
    });
    state = await AgentState.create({
      peer,
      broker,
      logger,
      engine,
      schedule,
      prober: new BanProber({
        actionsDir: setup.actionsDir,
        timeoutSeconds: config.actionTimeoutSeconds,
        paramPolicy: engine.paramPolicy,
      }),
      resultsQueue: config.state.resultsQueue,
      resultsExchange: config.broker.deadLetterExchange,
      driftIntervalSeconds: config.state.driftIntervalSeconds,
      allowlist: setup.allowlist,
      serially: (task) => agent.serially(task),
      metrics: registry,
      ...(setup.keyCache === undefined ? {} : { keyCache: setup.keyCache }),
    });
    agent.attachState(state);
    logger.info(
      { held: schedule.size, driftIntervalSeconds: config.state.driftIntervalSeconds },
      `ban state: ${schedule.size} ban(s) held`,
    );
  } else {
    logger.info(
      {},
      "protocol 1: bans run as exec only (no expiry, catch-up or results; see docs/operations.md)",
    );
  }
  const server =
    setup.metrics === undefined
      ? undefined
      : await startMetricsServer({ ...setup.metrics, registry, logger });
  return { close: async () => server?.close() };
}
