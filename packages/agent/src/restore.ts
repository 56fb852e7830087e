// The bans an agent holds, after it starts again: a stopping agent runs actionstop (the stock actions
// delete their chain or set with every ban in it) and a reboot empties the firewall, while the schedule,
// and so the digest, still lists them. Bans that have not ended are put back in effect (as fail2ban
// re-applies its database's bans at start); those whose end passed while the agent was down are lifted,
// or only forgotten where a probe finds them gone. Each step runs as batches (ActionEngine.executeBatch):
// a set-backend action puts thousands of bans back in one transaction.
import type { ActionOutcome, BatchOutcome } from "@net2ban/actions";
import type { BanIdentity } from "@net2ban/ledger";
import type { Counter } from "@net2ban/runtime";
import { actionFailure } from "./action-log.js";
import type { BanProber, ProbeOutcome } from "./probe.js";
import { outcomeOf, type Reports } from "./reports.js";
import type { BanSchedule, ScheduledBan } from "./schedule.js";
import type { BanStateLogger } from "./state.js";

/** One action for one ban, in a batch (`extra`: more ticket values, e.g. restored). */
export interface BanAction {
  ban: BanIdentity & { params: Record<string, string>; expiresAt?: number | null };
  action: "actionban" | "actionunban";
  extra?: Record<string, string>;
}

/** What the restore needs of the agent's ban state (state.ts). */
export interface RestoreOptions {
  schedule: BanSchedule;
  prober: BanProber;
  logger: BanStateLogger;
  reports: Reports;
  /** Runs a task in the agent's turn: one command at a time, in queue order. */
  serially: <T>(task: () => Promise<T>) => Promise<T>;
  /**
   * Bans restored per turn (one batch), so that commands are not held up behind a long restore: of set
   * actions (one transaction, milliseconds) and of the others (a process per ban), which run in smaller
   * batches.
   */
  batchSize: { sets: number; others: number };
  /** Whether the agent still runs: a stop ends the restore after the batch it is at. */
  running: () => boolean;
  /**
   * Runs the actions of a batch (ActionEngine.executeBatch), one outcome each; counted in
   * net2ban_actions_total unless `counted` is false.
   */
  runBatch: (actions: readonly BanAction[], counted?: boolean) => Promise<BatchOutcome[]>;
  /** Lifts bans at their end and reports them. */
  expireAll: (bans: readonly ScheduledBan[]) => Promise<void>;
  /** net2ban_restored_total, by outcome. */
  restored?: Counter;
}

/** The params an action of `ban` runs with. */
export function actionParams(ban: BanIdentity & { params: Record<string, string> }): Record<string, string> {
  return { ...ban.params, name: ban.name, ip: ban.ip };
}

/**
 * The params of `ban`'s actionban: with its end as fail2ban's ticket tells it (`time` now, `bantime` what
 * is left; -1 for ever; or, for a ban that came with its own bantime, that bantime and the start that
 * gives the same end), so that an action that times its bans itself (the set backends' element
 * timeouts) ends it when the ledger does, also when it is applied again late (a restore, a catch-up).
 */
export function banParams(
  ban: BanIdentity & { params: Record<string, string>; expiresAt?: number | null },
  nowSeconds: number,
): Record<string, string> {
  const params = actionParams(ban);
  if (ban.expiresAt === undefined) return params;
  // fail2ban's own ticket (an exec with bantime kept in the ledger): its bantime stays the ban's length and
  // `time` becomes its start, so time + bantime is still the ledger's end.
  const given = params["bantime"];
  if (ban.expiresAt !== null && given !== undefined && /^[1-9][0-9]{0,9}$/.test(given)) {
    params["time"] = String(Math.max(0, Math.round(ban.expiresAt - Number(given))));
    return params;
  }
  const time = Math.floor(nowSeconds);
  params["time"] = String(time);
  params["bantime"] = ban.expiresAt === null ? "-1" : String(Math.max(1, Math.ceil(ban.expiresAt - time)));
  return params;
}

export function describeBan(ban: BanIdentity): string {
  return `${ban.file}/${ban.name} ${ban.ip}`;
}

/**
 * Probes `bans`: those of set-backend actions with one listing per set, the others one by one with their
 * actionprobe ("unchecked" for actions without one).
 */
export async function probeBans(prober: BanProber, bans: readonly ScheduledBan[]): Promise<ProbeOutcome[]> {
  const outcomes: ProbeOutcome[] = new Array(bans.length);
  const sets: number[] = [];
  for (const [index, ban] of bans.entries()) {
    if (prober.isSetAction(ban.file)) sets.push(index);
    else if (prober.hasProbe(ban.file))
      outcomes[index] = await prober.probe({ file: ban.file, params: actionParams(ban) });
    else outcomes[index] = { state: "unchecked", reason: `${ban.file} has no actionprobe` };
  }
  if (sets.length > 0) {
    const found = await prober.probeSets(
      sets.map((index) => ({ file: bans[index]!.file, params: actionParams(bans[index]!) })),
    );
    for (const [position, index] of sets.entries()) outcomes[index] = found[position]!;
  }
  return outcomes;
}

/** Restores held bans after a start and settles those that ended while the agent was down. */
export class HeldBanRestore {
  readonly #options: RestoreOptions;

  constructor(options: RestoreOptions) {
    this.#options = options;
  }

  /**
   * Bans whose end passed while the agent was down: lifted as at their end, except those their action's
   * probe finds gone already (actionstop ran, the host rebooted, the kernel timed the set element out):
   * those are only forgotten.
   */
  async expireAllWhileDown(bans: readonly ScheduledBan[]): Promise<void> {
    const { prober, schedule, logger, reports } = this.#options;
    if (bans.length === 0) return;
    const found = await probeBans(prober, bans);
    const gone = bans.filter((_, index) => found[index]!.state === "missing");
    await schedule.releaseAll(gone.map((ban) => ban.key));
    for (const ban of gone) {
      logger.info(
        { file: ban.file, name: ban.name, ip: ban.ip, expiresAt: ban.expiresAt },
        `ban ${describeBan(ban)} ended while the agent was down and is no longer in effect: dropped`,
      );
      reports.result(
        ban,
        { ok: true, exitCode: 0, durationMs: 0, op: "expire", detail: "no longer in effect: dropped" },
        { requestId: `expire.${ban.appliedAt}` },
      );
    }
    await this.#options.expireAll(bans.filter((_, index) => found[index]!.state !== "missing"));
  }

  /**
   * Puts every held ban that has not ended back in effect, a batch per turn of the agent, so that
   * commands are not held up behind a long restore.
   */
  async restoreAll(): Promise<void> {
    const { schedule, serially, batchSize, running, logger } = this.#options;
    const held = schedule.held();
    if (held.length === 0) return;
    const sets = held.filter((ban) => this.#options.prober.isSetAction(ban.file));
    const others = held.filter((ban) => !this.#options.prober.isSetAction(ban.file));
    const slices: ScheduledBan[][] = [];
    for (let i = 0; i < sets.length; i += batchSize.sets) slices.push(sets.slice(i, i + batchSize.sets));
    for (let i = 0; i < others.length; i += batchSize.others) {
      slices.push(others.slice(i, i + batchSize.others));
    }
    const tally = { restored: 0, failed: 0, skipped: 0 };
    for (const slice of slices) {
      if (!running()) break;
      await serially(async () => {
        if (!running()) return;
        const batch: ScheduledBan[] = [];
        for (const ban of slice) {
          const current = schedule.get(ban.key);
          // Lifted meanwhile, or lifted and applied anew by this process: nothing to put back.
          if (current === undefined || current.appliedAt !== ban.appliedAt) continue;
          // Its end has come: the expiry lifts it.
          if (current.expiresAt !== null && current.expiresAt <= schedule.now()) continue;
          batch.push(current);
        }
        const counts = await this.#restoreBatch(batch);
        tally.restored += counts.restored;
        tally.failed += counts.failed;
        tally.skipped += counts.skipped;
      });
    }
    const done = tally.restored + tally.failed + tally.skipped;
    const message = `restore after restart: ${tally.restored} ban(s) applied again, ${tally.failed} failed, ${tally.skipped} skipped`;
    const fields = { ...tally, held: schedule.size, ...(running() ? {} : { stoppedAfter: done }) };
    if (tally.failed > 0) logger.warn(fields, message);
    else logger.info(fields, message);
  }

  /**
   * Held bans, put back in effect exactly once, in one batch. Where a ban may still be in effect (the
   * agent was killed and actionstop did not run, or the probe finds it), it is undone first
   * (actionunban), as an exec left in doubt by a crash is: stock iptables actionban inserts a rule, twice
   * would make two, and the one unban at its end would remove only one. Where the rule is gone, that
   * actionunban fails harmlessly; an actionprobe saves it (a ban the probe finds missing is only
   * applied). A set element needs no undo: adding an address the set holds leaves one element.
   */
  async #restoreBatch(
    bans: readonly ScheduledBan[],
  ): Promise<{ restored: number; failed: number; skipped: number }> {
    const { prober, schedule, logger, reports, restored, runBatch } = this.#options;
    const counts = { restored: 0, failed: 0, skipped: 0 };
    const toRestore: Array<{ ban: ScheduledBan; found: ProbeOutcome["state"] }> = [];
    const undo: ScheduledBan[] = [];
    for (const ban of bans) {
      // As fail2ban's restored tickets: an action with `norestored` (mail, reports) is not run again.
      if (prober.skipsRestored(ban.file, actionParams(ban))) {
        logger.debug(
          { file: ban.file, name: ban.name, ip: ban.ip },
          `ban ${describeBan(ban)} not restored: ${ban.file} skips restored tickets`,
        );
        counts.skipped += 1;
        continue;
      }
      if (prober.isSetAction(ban.file)) {
        toRestore.push({ ban, found: "unchecked" });
        continue;
      }
      const found = prober.hasProbe(ban.file)
        ? (await prober.probe({ file: ban.file, params: actionParams(ban) })).state
        : "unchecked";
      toRestore.push({ ban, found });
      if (found !== "missing") undo.push(ban);
    }
    if (toRestore.length === 0) return counts;
    // Not counted in net2ban_actions_total: its failure is the expected case after a clean stop.
    if (undo.length > 0)
      await runBatch(
        undo.map((ban) => ({ ban, action: "actionunban" })),
        false,
      );
    const outcomes = await runBatch(
      toRestore.map(({ ban }) => ({ ban, action: "actionban", extra: { restored: "1" } })),
    );
    const failed: Array<{ ban: ScheduledBan; outcome: ActionOutcome; reason: string }> = [];
    for (const [index, { ban, found }] of toRestore.entries()) {
      const outcome = outcomes[index]!;
      const context = { file: ban.file, name: ban.name, ip: ban.ip };
      if (outcome.ok) {
        counts.restored += 1;
        logger.info(
          { ...context, expiresAt: ban.expiresAt, found, durationMs: outcome.durationMs },
          `ban ${describeBan(ban)} restored after restart`,
        );
        continue;
      }
      const reason =
        outcome.ran || outcome.error === undefined
          ? actionFailure(ban.file, "actionban", outcome)
          : `${ban.file}/actionban refused: ${outcome.stderr}`;
      failed.push({ ban, outcome, reason });
    }
    if (counts.restored > 0) restored?.inc({ outcome: "ok" }, counts.restored);
    if (failed.length === 0) return counts;
    // Not in effect here: forget them, so that the next digest differs and the server sends them again.
    await schedule.releaseAll(failed.map(({ ban }) => ban.key));
    restored?.inc({ outcome: "failed" }, failed.length);
    counts.failed = failed.length;
    for (const { ban, outcome, reason } of failed) {
      logger.error(
        { file: ban.file, name: ban.name, ip: ban.ip, exitCode: outcome.exitCode, stderr: outcome.stderr },
        `ban ${describeBan(ban)} could not be restored after restart (${reason}): dropped, the server sends it again`,
      );
      reports.result(
        ban,
        { ...outcomeOf(outcome), op: "ban", detail: `not restored after restart: ${reason}`.slice(0, 500) },
        { requestId: `restore.${ban.appliedAt}` },
      );
    }
    return counts;
  }
}
