// One place that maps an error to what a CLI prints and the exit code it returns. The table (documented
// for operators in docs/cli.md, "Exit codes"):
//   0 ok                1 failed (anything else)           2 bad usage, config or input (refused)
//   3 nothing sent: the broker was unreachable or did not take the request
//   4 sent, but not confirmed: a host failed or did not answer (--wait), or the server did not answer
// A script retries 3 as it is, must not blindly resend 4 (some hosts may have it), and fixes 2.
import { ConfigError, LocalAddressesError } from "@net2ban/config";

/** Bad command-line usage: exit code 2. */
export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_SENT = 3;
export const EXIT_NOT_CONFIRMED = 4;

// PublishError reasons where the broker refused the message: it reached no queue. After "connection-lost"
// or "timeout" it may have, so those stay 1 (a resend might double it).
const NOT_TAKEN = new Set(["nacked", "returned", "refused"]);

// Errors of other packages are told apart by name, so that this module (loaded by every CLI at start-up)
// does not load the transport or net2banctl's modules.
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof ConfigError) return EXIT_USAGE;
  // A sandbox that forbids reading the host's own addresses: the unit must change, not restart.
  if (error instanceof LocalAddressesError) return EXIT_USAGE;
  if (!(error instanceof Error)) return EXIT_FAILED;
  switch (error.name) {
    case "ActionConfigError":
    // A queue of another type than queue_type: restarting cannot fix it (systemd: RestartPreventExitStatus=2).
    case "QueueMismatchError":
      return EXIT_USAGE;
    case "BrokerUnavailableError":
      return EXIT_NOT_SENT;
    case "PublishError":
    case "PublishBatchError":
      return NOT_TAKEN.has(String((error as { reason?: unknown }).reason)) ? EXIT_NOT_SENT : EXIT_FAILED;
    // net2banctl's: the request went out, the server did not answer it.
    case "NoAnswerError":
      return EXIT_NOT_CONFIRMED;
    default:
      return EXIT_FAILED;
  }
}

/** The lines to print on stderr: every config error on its own line, otherwise the message. */
export function describeError(error: unknown): string[] {
  if (error instanceof ConfigError) return error.errors.length > 0 ? error.errors : [error.message];
  if (error instanceof Error) return [error.message.split("\n")[0] ?? error.name];
  return [String(error)];
}
