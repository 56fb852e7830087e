// What the agent tells the server on <queue_prefix>results: a result for every action it ran for a
// request, the ledger or by itself (expiry, restore), and digests of the bans it holds. Both are best
// effort: the next digest repairs what a lost report would have told.
import type { ActionOutcome } from "@net2ban/actions";
import type { BanIdentity } from "@net2ban/ledger";
import type { Codec } from "@net2ban/protocol";
import {
  createDigestMessage,
  createResultMessage,
  type DigestMessage,
  type ResultInput,
} from "@net2ban/protocol/fleet";
import type { Broker } from "@net2ban/transport";
import type { BanStateLogger } from "./state.js";

/** What an action did, for the result message and the log. */
export type Outcome = Pick<ResultInput, "ok" | "exitCode" | "durationMs" | "stderr" | "op" | "detail">;

/** The part of an action's outcome a result carries. */
export function outcomeOf(outcome: ActionOutcome): Outcome {
  return {
    ok: outcome.ok,
    exitCode: outcome.exitCode,
    durationMs: outcome.durationMs,
    stderr: outcome.stderr,
  };
}

export interface ReportsOptions {
  /** This agent's name: the results' client and every report's sender. */
  client: string;
  /** The agent's from-agent codec. */
  codec: Codec;
  broker: Pick<Broker, "publish">;
  /** `queue_prefix` + `results`. */
  resultsQueue: string;
  /** `dead_letter_exchange`, when set: reports go through it (see AgentStateOptions). */
  resultsExchange?: string | undefined;
  logger: Pick<BanStateLogger, "debug" | "warn">;
  /** Clock in seconds (the schedule's): a result's latency is measured by it. */
  now: () => number;
  /** Latencies of successful bans and execs (net2ban_ban_latency_seconds). */
  observeLatency?: (seconds: number) => void;
}

/** Seals and sends the agent's results and digests. */
export class Reports {
  readonly #options: ReportsOptions;
  #lastPublishWarning = 0;

  constructor(options: ReportsOptions) {
    this.#options = options;
  }

  /** The result of an action for `ban` (what of it is known), answering `request`. */
  result(
    ban: Partial<BanIdentity>,
    outcome: Outcome,
    request: { requestId: string; requestedAt?: number | undefined },
  ): void {
    const { client, now, observeLatency } = this.#options;
    const latencySeconds =
      request.requestedAt === undefined ? undefined : Math.max(0, now() - request.requestedAt);
    if (latencySeconds !== undefined && outcome.ok && (outcome.op === "ban" || outcome.op === "exec")) {
      observeLatency?.(latencySeconds);
    }
    let message: ReturnType<typeof createResultMessage>;
    try {
      message = createResultMessage({
        requestId: request.requestId.length > 128 ? request.requestId.slice(0, 128) : request.requestId,
        client,
        ok: outcome.ok,
        exitCode: outcome.exitCode,
        durationMs: outcome.durationMs,
        ...(outcome.stderr === undefined ? {} : { stderr: outcome.stderr }),
        ...(outcome.op === undefined ? {} : { op: outcome.op }),
        ...(outcome.detail === undefined ? {} : { detail: outcome.detail }),
        ...(ban.file === undefined ? {} : { file: ban.file }),
        ...(ban.name === undefined ? {} : { name: ban.name }),
        ...(ban.ip === undefined ? {} : { ip: ban.ip }),
        ...(latencySeconds === undefined ? {} : { latencySeconds }),
        sender: client,
      });
    } catch (error) {
      this.#options.logger.debug({ err: error }, "result not sent: it does not fit the schema");
      return;
    }
    void this.#publish(this.#options.codec.seal(message), message.id);
  }

  /** A digest of the bans held (`missing`: how many the drift check found gone). */
  digest(
    reason: DigestMessage["reason"],
    digest: { count: number; hash: string },
    missing?: number,
  ): Promise<void> {
    const { client } = this.#options;
    const message = createDigestMessage({
      client,
      reason,
      count: digest.count,
      hash: digest.hash,
      ...(missing === undefined || missing === 0 ? {} : { missing }),
      sender: client,
    });
    this.#options.logger.debug({ reason, count: digest.count }, "digest sent");
    return this.#publish(this.#options.codec.seal(message), message.id);
  }

  async #publish(body: Buffer, messageId: string): Promise<void> {
    const { broker, resultsQueue, resultsExchange } = this.#options;
    try {
      await broker.publish(resultsQueue, body, { messageId, exchange: resultsExchange });
    } catch (error) {
      const now = Date.now();
      if (now - this.#lastPublishWarning > 60_000) {
        this.#lastPublishWarning = now;
        this.#options.logger.warn(
          { err: error, queue: resultsQueue },
          `cannot send results to ${resultsQueue} (is the server running?); the next digest catches up`,
        );
      }
    }
  }
}
