// Reconnect delays: exponential backoff with jitter, so a fleet of agents does not reconnect in lockstep.

export interface ReconnectPolicy {
  /** Delay before the second round of attempts, in ms; the first round after a loss waits a random part of it. */
  initialDelayMs: number;
  /** Upper bound of any delay, jitter included. */
  maxDelayMs: number;
  /** Growth per round. */
  factor: number;
  /** 0..1: each delay is spread by +-jitter of itself. */
  jitter: number;
}

export const DEFAULT_RECONNECT_POLICY: Readonly<ReconnectPolicy> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
});

/**
 * Delay after `failedRounds` complete rounds through the URL list failed (1, 2, ...).
 * The base is capped at maxDelay/(1+jitter) so the jittered value never exceeds maxDelay and the spread
 * stays even at the cap (the same reasoning as amqplib's built-in strategy).
 */
export function reconnectDelayMs(
  failedRounds: number,
  policy: ReconnectPolicy,
  random: () => number,
): number {
  const cappedBase = policy.maxDelayMs / (1 + policy.jitter);
  const base = Math.min(cappedBase, policy.initialDelayMs * policy.factor ** Math.max(0, failedRounds - 1));
  const spread = base * policy.jitter;
  const offset = spread > 0 ? (random() * 2 - 1) * spread : 0;
  return Math.max(0, Math.round(base + offset));
}

/** Random pause before the first reconnect round, so agents that lost the same node spread out. */
export function reconnectStaggerMs(policy: ReconnectPolicy, random: () => number): number {
  return Math.round(random() * policy.initialDelayMs);
}
