// Freshness and replay of the agents' reports (results and digests), one memory per agent: a flood of
// reports from one agent fills and raises the floor of its own memory only, never another agent's.
import { FreshnessGuard, type OpenedMessage } from "@net2ban/protocol";

/**
 * How far (seconds) a report's timestamp may be ahead of the server's clock. An agent stamps a report
 * when it makes it and publishes it at once, so with NTP-synchronised clocks it never arrives from the
 * future; a few seconds cover clock error. The timestamp also says when the agent carried out a
 * command (digest judging), and it is what an agent's replay memory floor rises to: a tight bound keeps
 * a flood of future-dated reports from shutting out that agent's own reports for longer than that.
 */
export const REPORT_FUTURE_SKEW_SECONDS = 5;

/**
 * Ids remembered per agent. An agent reports once per command it carries out and once per digest; this
 * covers bursts of that many within valid_wtime. Beyond it the agent's own floor rises (its late reports
 * are refused), and the memory of a whole fleet stays bounded by this times its number of agents.
 */
export const REPORTS_KEPT_PER_CLIENT = 20_000;

export interface ReportGuardsOptions {
  /** valid_wtime: how old (seconds) a report may be. */
  validWindowSeconds: number;
  /** Clock in milliseconds since the epoch. */
  now?: () => number;
  /** Default REPORTS_KEPT_PER_CLIENT. */
  maxEntriesPerClient?: number;
}

/** One FreshnessGuard per agent, made on its first report, dropped when the agent leaves the config. */
export class ReportGuards {
  readonly #options: ReportGuardsOptions;
  readonly #guards = new Map<string, FreshnessGuard>();

  constructor(options: ReportGuardsOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    this.#options = options;
    // Fail at construction, not at the first report, on a bad window or bound.
    this.#make();
  }

  /** Accepts a report of `client` and remembers it, or throws MessageRejectedError with the reason. */
  check(client: string, opened: OpenedMessage): void {
    let guard = this.#guards.get(client);
    if (guard === undefined) {
      guard = this.#make();
      this.#guards.set(client, guard);
    }
    guard.check(opened);
  }

  /** A client removed from the config: its memory goes with it. */
  forgetClient(client: string): void {
    this.#guards.delete(client);
  }

  #make(): FreshnessGuard {
    return new FreshnessGuard({
      validWindowSeconds: this.#options.validWindowSeconds,
      maxFutureSkewSeconds: REPORT_FUTURE_SKEW_SECONDS,
      maxEntries: this.#options.maxEntriesPerClient ?? REPORTS_KEPT_PER_CLIENT,
      ...(this.#options.now === undefined ? {} : { now: this.#options.now }),
    });
  }
}
