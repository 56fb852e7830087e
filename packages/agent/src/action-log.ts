// The operator's lines for an action run on this host, the same whether it came as an exec (agent.ts) or
// from the ledger (state.ts, restore.ts): `IP 203.0.113.9 banned`, `IP 203.0.113.9 unbanned`,
// `iptables-multiport/actionban failed with exit code 2`.
import type { ActionOutcome } from "@net2ban/actions";

/** The subset of a pino logger the lines go to. */
export interface ActionLogLogger {
  info(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** What the line is about; every field of it goes into the log entry. */
export interface ActionLogContext {
  file: string;
  action: string;
  ip?: string | undefined;
  [field: string]: unknown;
}

/** `<file>/<action> failed with exit code N` (and whether it timed out). */
export function actionFailure(
  file: string,
  action: string,
  outcome: Pick<ActionOutcome, "exitCode" | "timedOut">,
): string {
  return `${file}/${action} failed with exit code ${outcome.exitCode ?? "none"}${outcome.timedOut ? " (timed out)" : ""}`;
}

/** Logs how an action went: an error with its exit code, else the ban or unban of its address. */
export function logActionOutcome(
  logger: ActionLogLogger,
  context: ActionLogContext,
  outcome: Pick<ActionOutcome, "ok" | "exitCode" | "timedOut" | "stderr" | "durationMs">,
): void {
  const { file, action, ip } = context;
  if (!outcome.ok) {
    logger.error(
      { ...context, exitCode: outcome.exitCode, timedOut: outcome.timedOut, stderr: outcome.stderr },
      actionFailure(file, action, outcome),
    );
  } else if (action === "actionban" && ip !== undefined) {
    logger.info({ ...context, durationMs: outcome.durationMs }, `IP ${ip} banned`);
  } else if (action === "actionunban" && ip !== undefined) {
    logger.info({ ...context, durationMs: outcome.durationMs }, `IP ${ip} unbanned`);
  } else {
    logger.info({ ...context, durationMs: outcome.durationMs }, `${file}/${action} done`);
  }
}
