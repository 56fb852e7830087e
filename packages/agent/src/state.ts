// The agent's part of the ban state: applies and lifts the ledger's bans (apply, sync), lifts them by
// itself at their end, and every drift_interval probes its bans and sends a digest of what it holds (also
// at start, after a reconnect and after a sync). A sync part, the lifts that end a sync, expiries, crash
// leftovers and drift probes run as batches (ActionEngine.executeBatch, probeBatch): one transaction for
// thousands of set elements, several stock commands to a shell. The restore after a restart is
// restore.ts, what goes to the results queue is reports.ts, the metrics are registered in metrics.ts.
import { join } from "node:path";
import { type ActionEngine, type ActionOutcome, type BatchOutcome, notRunOutcome } from "@net2ban/actions";
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
import {
  actionParams,
  type BanAction,
  banParams,
  describeBan,
  HeldBanRestore,
  probeBans,
} from "./restore.js";
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
  /** Runs the actions (ActionEngine): one for an apply, batches for the rest. */
  engine: Pick<ActionEngine, "execute" | "executeBatch">;
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
  /** Probes one process per ban run in slices of this many per turn, so that commands are not held up (default 20). */
  probeSlice?: number;
  /**
   * Bans per turn of the restore after a restart: of set-backend actions (default 4096, a sync part's
   * most; one transaction) and of the others (default 200, one shell of the engine): a batch holds the
   * agent's turn while it runs.
   */
  batchSize?: { sets?: number; others?: number };
}

/** A ban of the ledger, as an apply or a sync carries it. */
type LedgerBan = HeldBan | (BanIdentity & { params: Record<string, string>; expiresAt: number | null });

const DEFAULT_BATCH = 4096;
const DEFAULT_SHELL_BATCH = 200;

const SYNCS_KEPT = 4;

interface SyncProgress {
  keys: Set<string>;
  /** Bans applied by the parts so far (the `sync done` line counts the whole sync). */
  applied: number;
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
      logger: options.logger,
      reports: this.#reports,
      serially: options.serially,
      batchSize: {
        sets: options.batchSize?.sets ?? DEFAULT_BATCH,
        others: options.batchSize?.others ?? DEFAULT_SHELL_BATCH,
      },
      running: () => this.#running,
      runBatch: (actions, counted) => this.#runBatch(actions, counted),
      expireAll: (bans) => this.#expireAll(bans),
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
      const inDoubt = schedule.inDoubt();
      for (const ban of inDoubt) {
        this.#logger.warn(
          { file: ban.file, name: ban.name, ip: ban.ip },
          `ban ${describeBan(ban)} was being applied when the agent stopped: undoing it (the server's catch-up applies it again if it is still active)`,
        );
      }
      if (inDoubt.length > 0) {
        await this.#runBatch(inDoubt.map((ban) => ({ ban, action: "actionunban" })));
        await schedule.releaseAll(inDoubt.map((ban) => ban.key));
      }
      await this.#restore.expireAllWhileDown(schedule.overdue());
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
      const { schedule } = this.#options;
      const due: ScheduledBan[] = [];
      for (const ban of bans) {
        const current = schedule.get(ban.key);
        // Extended meanwhile (the ledger's end moved): the schedule calls again later.
        if (current === undefined || current.expiresAt === null || current.expiresAt > schedule.now())
          continue;
        due.push(current);
      }
      await this.#expireAll(due);
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
      progress = { keys: new Set(), applied: 0, next: 0, complete: true };
      this.#syncs.set(message.syncId, progress);
      while (this.#syncs.size > SYNCS_KEPT) this.#syncs.delete(this.#syncs.keys().next().value as string);
    }
    if (message.seq !== progress.next) progress.complete = false;
    progress.next = message.seq + 1;
    for (const ban of message.bans) progress.keys.add(banKey(ban));
    const outcomes = await this.#banAll(message.bans, `sync ${message.syncId} part ${message.seq}`);
    let applied = 0;
    for (const [index, outcome] of outcomes.entries()) {
      if (outcome.op === "ban" && outcome.ok) applied += 1;
      // Successes are confirmed all at once by the digest that follows; failures are reported one by one.
      if (!outcome.ok) {
        this.#reports.result(message.bans[index]!, { ...outcome, op: "sync" }, { requestId: message.id });
      }
    }
    this.#metrics?.syncApplied.inc({}, applied);
    progress.applied += applied;
    if (!message.last) return;
    this.#syncs.delete(message.syncId);
    if (!progress.complete) {
      this.#logger.warn(
        { syncId: message.syncId },
        "sync: a part is missing (expired or rejected); bans not in it are kept until the next one",
      );
    } else {
      const extra = this.#options.schedule.held().filter((held) => !progress.keys.has(held.key));
      const lifts = await this.#unbanAll(extra, "unban");
      for (const [index, outcome] of lifts.entries()) {
        this.#reports.result(
          extra[index]!,
          { ...outcome, detail: "not in the server's ledger any more" },
          { requestId: message.id },
        );
      }
      const lifted = extra.length;
      for (const key of this.#refused) if (!progress.keys.has(key)) this.#refused.delete(key);
      this.#logger.info(
        { syncId: message.syncId, held: this.#options.schedule.size, applied: progress.applied, lifted },
        `sync done: ${progress.applied} ban(s) applied, ${lifted} lifted, ${this.#options.schedule.size} held`,
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

  /** What a ban needs before any action: settled already (ended, refused) or to look up in the schedule. */
  #settledBefore(ban: LedgerBan): Outcome | undefined {
    if (ban.expiresAt !== null && ban.expiresAt <= this.#options.schedule.now()) {
      return { ok: true, exitCode: 0, durationMs: 0, op: "skip", detail: "ended before it arrived" };
    }
    const refusal = checkBan(this.#options.allowlist, { action: "actionban", params: { ip: ban.ip } });
    if (refusal === undefined) return undefined;
    this.#refused.add(banKey(ban));
    this.#logger.warn({ file: ban.file, name: ban.name, ip: ban.ip }, `${refusal.message}; not applied`);
    return { ok: false, exitCode: null, durationMs: 0, op: "ban", detail: refusal.message };
  }

  #extended(ban: LedgerBan): Outcome {
    this.#logger.debug(
      { file: ban.file, name: ban.name, ip: ban.ip, expiresAt: ban.expiresAt },
      `IP ${ban.ip} ban extended`,
    );
    return { ok: true, exitCode: 0, durationMs: 0, op: "extend" };
  }

  /** One ban (an apply): the schedule's begin, its actionban, then held or forgotten. */
  async #ban(ban: LedgerBan): Promise<Outcome> {
    const { schedule } = this.#options;
    const logger = this.#logger;
    const settled = this.#settledBefore(ban);
    if (settled !== undefined) return settled;
    const key = banKey(ban);
    if (schedule.get(key) !== undefined) {
      await schedule.setEnd(key, ban.expiresAt);
      return this.#extended(ban);
    }
    const entry = await schedule.begin(ban);
    let outcome: ActionOutcome;
    try {
      outcome = await this.#run(ban, "actionban", banParams(ban, schedule.now()));
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

  /**
   * Bans of the ledger (a sync part), as #ban but in one batch: the new ones begun in one flush, their
   * actionbans in one executeBatch, held or forgotten in one flush; ends of held ones moved in one. A ban
   * is in the schedule only once applied. One outcome per ban, in order; one summary line (`what`).
   */
  async #banAll(bans: readonly LedgerBan[], what: string): Promise<Outcome[]> {
    const { schedule } = this.#options;
    const outcomes: Outcome[] = new Array(bans.length);
    const ends = new Map<string, number | null>();
    /** New bans by key; a key twice in the batch is applied once, with the later end. */
    const fresh = new Map<string, { index: number; ban: LedgerBan }>();
    for (const [index, ban] of bans.entries()) {
      const settled = this.#settledBefore(ban);
      if (settled !== undefined) {
        outcomes[index] = settled;
        continue;
      }
      const key = banKey(ban);
      const pending = fresh.get(key);
      if (schedule.get(key) !== undefined) ends.set(key, ban.expiresAt);
      else if (pending !== undefined) pending.ban = { ...pending.ban, expiresAt: ban.expiresAt };
      else {
        fresh.set(key, { index, ban });
        continue;
      }
      outcomes[index] = this.#extended(ban);
    }
    await schedule.setEnds([...ends].map(([key, expiresAt]) => ({ key, expiresAt })));
    if (fresh.size === 0) return outcomes;
    const work = [...fresh.values()];
    const entries = await schedule.beginAll(work.map((w) => w.ban));
    const ran = await this.#runBatch(entries.map((ban) => ({ ban, action: "actionban" })));
    const held: ScheduledBan[] = [];
    const released: string[] = [];
    for (const [position, entry] of entries.entries()) {
      if (ran[position]!.ok) held.push(entry);
      else released.push(entry.key);
    }
    await schedule.settle(held, released);
    for (const [position, entry] of entries.entries()) {
      const outcome = ran[position]!;
      const context = { file: entry.file, name: entry.name, ip: entry.ip, expiresAt: entry.expiresAt };
      outcomes[work[position]!.index] = this.#logged(context, "actionban", outcome, "ban");
    }
    this.#logBatch(what, "applied", entries.length, released.length, ran);
    return outcomes;
  }

  /** Lifts held bans with the params they were applied with, in one batch; a ban not held: skip. */
  async #unbanAll(identities: readonly BanIdentity[], op: "unban" | "expire"): Promise<Outcome[]> {
    const { schedule } = this.#options;
    const outcomes: Outcome[] = new Array(identities.length);
    const lifting = new Map<string, { index: number; held: ScheduledBan }>();
    for (const [index, identity] of identities.entries()) {
      const key = banKey(identity);
      this.#refused.delete(key);
      const held = schedule.get(key);
      if (held === undefined || lifting.has(key)) {
        outcomes[index] = { ok: true, exitCode: 0, durationMs: 0, op: "skip", detail: "not applied here" };
      } else lifting.set(key, { index, held });
    }
    if (lifting.size === 0) return outcomes;
    const work = [...lifting.values()];
    const ran = await this.#runBatch(work.map(({ held }) => ({ ban: held, action: "actionunban" })));
    // Lifted or not, their time here is over: a failed unban is reported, not retried for ever.
    await schedule.releaseAll(work.map(({ held }) => held.key));
    for (const [position, { index, held }] of work.entries()) {
      const context = { file: held.file, name: held.name, ip: held.ip, reason: op };
      outcomes[index] = this.#logged(context, "actionunban", ran[position]!, op);
    }
    this.#logBatch(op === "expire" ? "expiry" : "lift", "lifted", work.length, 0, ran);
    return outcomes;
  }

  /** The operator's line for one ban of a batch, and its outcome for the result. */
  #logged(
    context: { file: string; name: string; ip: string; [field: string]: unknown },
    action: "actionban" | "actionunban",
    outcome: BatchOutcome,
    op: "ban" | "unban" | "expire",
  ): Outcome {
    if (outcome.error !== undefined) {
      this.#logger.error(
        { err: outcome.error, file: context.file, ip: context.ip },
        `${context.file}/${action} refused: ${outcome.error.message}`,
      );
      return { ok: false, exitCode: null, durationMs: 0, op, detail: outcome.error.message };
    }
    logActionOutcome(this.#logger, { ...context, action }, outcome);
    return { ...outcomeOf(outcome), op };
  }

  /** One line per batch of more than one ban (each ban has its own line too). */
  #logBatch(what: string, verb: string, count: number, failed: number, ran: readonly BatchOutcome[]): void {
    if (count < 2) return;
    const durationMs = ran.reduce((most, o) => Math.max(most, o.durationMs), 0);
    const first = ran.find((o) => !o.ok);
    const fields = { batch: what, count, failed, durationMs };
    if (first === undefined) this.#logger.info(fields, `${what}: ${count} ban(s) ${verb} in one batch`);
    else {
      const reason =
        first.error?.message ?? `exit code ${first.exitCode ?? "none"}: ${first.stderr.slice(0, 200)}`;
      this.#logger.warn(
        fields,
        `${what}: ${count - failed} ban(s) ${verb} in one batch, ${failed} failed (first: ${reason})`,
      );
    }
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
      outcome = await this.#run(held, "actionunban", actionParams(held));
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

  /** Lifts held bans at their end (in one batch) and reports each. */
  async #expireAll(bans: readonly ScheduledBan[]): Promise<void> {
    if (bans.length === 0) return;
    const outcomes = await this.#unbanAll(bans, "expire");
    for (const [index, ban] of bans.entries()) {
      this.#reports.result(ban, outcomes[index]!, { requestId: `expire.${ban.appliedAt}` });
    }
  }

  async #run(
    ban: BanIdentity,
    action: "actionban" | "actionunban",
    params: Record<string, string>,
  ): Promise<ActionOutcome> {
    const outcome = await this.#options.engine.execute({ file: ban.file, action, params });
    this.#metrics?.actions.inc({ action, outcome: outcome.ok ? "ok" : "failed" });
    return outcome;
  }

  /**
   * Runs a batch (executeBatch): an actionban with the ban's end as its ticket tells it. One outcome per
   * action, also when the engine throws for the whole batch. Counted in net2ban_actions_total (refusals,
   * which ran nothing, are not) unless `counted` is false.
   */
  async #runBatch(actions: readonly BanAction[], counted = true): Promise<BatchOutcome[]> {
    if (actions.length === 0) return [];
    const now = this.#options.schedule.now();
    let outcomes: BatchOutcome[];
    try {
      outcomes = await this.#options.engine.executeBatch(
        actions.map(({ ban, action, extra }) => ({
          file: ban.file,
          action,
          params: { ...(action === "actionban" ? banParams(ban, now) : actionParams(ban)), ...extra },
        })),
      );
    } catch (error) {
      return actions.map(() => notRunOutcome(error));
    }
    if (counted && this.#metrics !== undefined) {
      const tally = new Map<string, { action: string; outcome: string; n: number }>();
      for (const [index, outcome] of outcomes.entries()) {
        if (outcome.error !== undefined) continue;
        const action = actions[index]!.action;
        const labels = { action, outcome: outcome.ok ? "ok" : "failed" };
        const key = `${labels.action} ${labels.outcome}`;
        const entry = tally.get(key) ?? { ...labels, n: 0 };
        entry.n += 1;
        tally.set(key, entry);
      }
      for (const { action, outcome, n } of tally.values()) this.#metrics.actions.inc({ action, outcome }, n);
    }
    return outcomes;
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

  /**
   * Probes every held ban whose action has a probe; drops the ones gone from the host. Bans of set-backend
   * actions are probed all at once (one listing per set, in one turn); the others one process each, in
   * slices of probeSlice per turn.
   */
  async #probeAll(): Promise<number> {
    const { schedule, prober, serially } = this.#options;
    const slice = this.#options.probeSlice ?? 20;
    const sets: ScheduledBan[] = [];
    const others: ScheduledBan[] = [];
    for (const ban of schedule.held()) {
      if (prober.isSetAction(ban.file)) sets.push(ban);
      else if (prober.hasProbe(ban.file)) others.push(ban);
    }
    let missing = 0;
    if (sets.length > 0 && this.#running) missing += await serially(() => this.#probeSlice(sets));
    for (let i = 0; i < others.length && this.#running; i += slice) {
      missing += await serially(() => this.#probeSlice(others.slice(i, i + slice)));
    }
    return missing;
  }

  /** Probes `candidates` in the agent's turn (no action runs meanwhile, no ban changes under the probe). */
  async #probeSlice(candidates: readonly ScheduledBan[]): Promise<number> {
    const { schedule, prober } = this.#options;
    const current = candidates.filter((ban) => schedule.get(ban.key)?.appliedAt === ban.appliedAt);
    const outcomes = await probeBans(prober, current);
    const gone: ScheduledBan[] = [];
    for (const [index, ban] of current.entries()) {
      const outcome = outcomes[index]!;
      if (outcome.state === "missing") {
        gone.push(ban);
        this.#logger.warn(
          { file: ban.file, name: ban.name, ip: ban.ip, exitCode: outcome.exitCode, stderr: outcome.stderr },
          `ban ${describeBan(ban)} is no longer in effect on this host (actionprobe exit ${outcome.exitCode ?? "none"}: ${outcome.stderr.slice(0, 200) || "no output"}): dropped, the server sends it again`,
        );
      } else if (outcome.state === "unchecked") {
        this.#logger.debug({ file: ban.file, ip: ban.ip, reason: outcome.reason }, "probe gave no answer");
      }
    }
    if (gone.length > 0) {
      this.#metrics?.probeMissing.inc({}, gone.length);
      await schedule.releaseAll(gone.map((ban) => ban.key));
    }
    return gone.length;
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
        sets: engine,
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
