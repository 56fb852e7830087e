// The bans an agent holds, after it starts again: a stopping agent runs actionstop (the stock actions
// delete their chain or set with every ban in it) and a reboot empties the firewall, while the schedule,
// and so the digest, still lists them. Bans that have not ended are put back in effect (as fail2ban
// re-applies its database's bans at start); those whose end passed while the agent was down are lifted,
// or only forgotten where a probe finds them gone.
import type { ActionEngine, ActionOutcome } from "@net2ban/actions";
import type { BanIdentity } from "@net2ban/ledger";
import type { Counter } from "@net2ban/runtime";
import { actionFailure } from "./action-log.js";
import type { BanProber } from "./probe.js";
import { outcomeOf, type Reports } from "./reports.js";
import type { BanSchedule, ScheduledBan } from "./schedule.js";
import type { BanStateLogger } from "./state.js";

/** What the restore needs of the agent's ban state (state.ts). */
export interface RestoreOptions {
  schedule: BanSchedule;
  prober: BanProber;
  engine: Pick<ActionEngine, "execute">;
  logger: BanStateLogger;
  reports: Reports;
  /** Runs a task in the agent's turn: one command at a time, in queue order. */
  serially: <T>(task: () => Promise<T>) => Promise<T>;
  /** Bans restored per turn, so that commands are not held up behind a long restore. */
  slice: number;
  /** Whether the agent still runs: a stop ends the restore after the ban it is at. */
  running: () => boolean;
  /** Runs a ban's action with its params (counted in net2ban_actions_total). */
  run: (
    ban: BanIdentity & { params: Record<string, string> },
    action: "actionban" | "actionunban",
    extra?: Record<string, string>,
  ) => Promise<ActionOutcome>;
  /** Lifts a ban at its end and reports it. */
  expire: (ban: ScheduledBan) => Promise<void>;
  /** net2ban_restored_total, by outcome. */
  restored?: Counter;
}

/** The params an action of `ban` runs with. */
export function actionParams(ban: BanIdentity & { params: Record<string, string> }): Record<string, string> {
  return { ...ban.params, name: ban.name, ip: ban.ip };
}

export function describeBan(ban: BanIdentity): string {
  return `${ban.file}/${ban.name} ${ban.ip}`;
}

/** Restores held bans after a start and settles those that ended while the agent was down. */
export class HeldBanRestore {
  readonly #options: RestoreOptions;

  constructor(options: RestoreOptions) {
    this.#options = options;
  }

  /**
   * A ban whose end passed while the agent was down: lifted as at its end, unless its action's probe finds
   * it gone already (actionstop ran, or the host rebooted): then it is only forgotten.
   */
  async expireWhileDown(ban: ScheduledBan): Promise<void> {
    const { prober, schedule, logger, reports } = this.#options;
    if (prober.hasProbe(ban.file)) {
      const found = await prober.probe({ file: ban.file, params: actionParams(ban) });
      if (found.state === "missing") {
        await schedule.release(ban.key);
        logger.info(
          { file: ban.file, name: ban.name, ip: ban.ip, expiresAt: ban.expiresAt },
          `ban ${describeBan(ban)} ended while the agent was down and is no longer in effect: dropped`,
        );
        reports.result(
          ban,
          { ok: true, exitCode: 0, durationMs: 0, op: "expire", detail: "no longer in effect: dropped" },
          { requestId: `expire.${ban.appliedAt}` },
        );
        return;
      }
    }
    await this.#options.expire(ban);
  }

  /**
   * Puts every held ban that has not ended back in effect, in slices in the agent's turn, so that commands
   * are not held up behind a long restore.
   */
  async restoreAll(): Promise<void> {
    const { schedule, serially, slice, running, logger } = this.#options;
    const candidates = schedule.held();
    if (candidates.length === 0) return;
    const tally = { restored: 0, failed: 0, skipped: 0 };
    for (let i = 0; i < candidates.length && running(); i += slice) {
      await serially(async () => {
        for (const ban of candidates.slice(i, i + slice)) {
          if (!running()) return;
          const current = schedule.get(ban.key);
          // Lifted meanwhile, or lifted and applied anew by this process: nothing to put back.
          if (current === undefined || current.appliedAt !== ban.appliedAt) continue;
          // Its end has come: the expiry lifts it.
          if (current.expiresAt !== null && current.expiresAt <= schedule.now()) continue;
          tally[await this.#restore(current)] += 1;
        }
      });
    }
    const done = tally.restored + tally.failed + tally.skipped;
    const message = `restore after restart: ${tally.restored} ban(s) applied again, ${tally.failed} failed, ${tally.skipped} skipped`;
    const fields = { ...tally, held: schedule.size, ...(running() ? {} : { stoppedAfter: done }) };
    if (tally.failed > 0) logger.warn(fields, message);
    else logger.info(fields, message);
  }

  /**
   * One held ban, put back in effect exactly once. Where it may still be in effect (the agent was killed
   * and actionstop did not run, or the probe finds it), it is undone first (actionunban), as an exec left
   * in doubt by a crash is: stock iptables actionban inserts a rule, twice would make two, and the one
   * unban at its end would remove only one. Where the rule is gone, that actionunban fails harmlessly; an
   * actionprobe saves it (a ban the probe finds missing is only applied).
   */
  async #restore(ban: ScheduledBan): Promise<"restored" | "failed" | "skipped"> {
    const { engine, prober, schedule, logger, reports, restored } = this.#options;
    const context = { file: ban.file, name: ban.name, ip: ban.ip };
    const params = actionParams(ban);
    // As fail2ban's restored tickets: an action with `norestored` (mail, reports) is not run again.
    if (prober.skipsRestored(ban.file, params)) {
      logger.debug(context, `ban ${describeBan(ban)} not restored: ${ban.file} skips restored tickets`);
      return "skipped";
    }
    const found = prober.hasProbe(ban.file)
      ? (await prober.probe({ file: ban.file, params })).state
      : "unchecked";
    if (found !== "missing") {
      // Not counted in net2ban_actions_total: its failure is the expected case after a clean stop.
      await engine.execute({ file: ban.file, action: "actionunban", params }).catch(() => undefined);
    }
    let outcome: ActionOutcome;
    try {
      outcome = await this.#options.run(ban, "actionban", { restored: "1" });
    } catch (error) {
      outcome = {
        ok: false,
        command: null,
        exitCode: null,
        stderr: (error as Error).message,
        durationMs: 0,
        timedOut: false,
        ran: false,
        steps: [],
      };
    }
    if (outcome.ok) {
      restored?.inc({ outcome: "ok" });
      logger.info(
        { ...context, expiresAt: ban.expiresAt, found, durationMs: outcome.durationMs },
        `ban ${describeBan(ban)} restored after restart`,
      );
      return "restored";
    }
    // Not in effect here: forget it, so that the next digest differs and the server sends it again.
    await schedule.release(ban.key);
    restored?.inc({ outcome: "failed" });
    const reason = outcome.ran
      ? actionFailure(ban.file, "actionban", outcome)
      : `${ban.file}/actionban refused: ${outcome.stderr}`;
    logger.error(
      { ...context, exitCode: outcome.exitCode, stderr: outcome.stderr },
      `ban ${describeBan(ban)} could not be restored after restart (${reason}): dropped, the server sends it again`,
    );
    reports.result(
      ban,
      { ...outcomeOf(outcome), op: "ban", detail: `not restored after restart: ${reason}`.slice(0, 500) },
      { requestId: `restore.${ban.appliedAt}` },
    );
    return "failed";
  }
}
