// One place that maps an error to what a CLI prints and the exit code it returns (0 ok, 1 failed, 2 usage/config).
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

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof ConfigError) return EXIT_USAGE;
  // A sandbox that forbids reading the host's own addresses: the unit must change, not restart.
  if (error instanceof LocalAddressesError) return EXIT_USAGE;
  if (error instanceof Error && error.name === "ActionConfigError") return EXIT_USAGE;
  // A queue of another type than queue_type: restarting cannot fix it (systemd: RestartPreventExitStatus=2).
  if (error instanceof Error && error.name === "QueueMismatchError") return EXIT_USAGE;
  return EXIT_FAILED;
}

/** The lines to print on stderr: every config error on its own line, otherwise the message. */
export function describeError(error: unknown): string[] {
  if (error instanceof ConfigError) return error.errors.length > 0 ? error.errors : [error.message];
  if (error instanceof Error) return [error.message.split("\n")[0] ?? error.name];
  return [String(error)];
}
