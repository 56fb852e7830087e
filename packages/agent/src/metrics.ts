// The agent's Prometheus metrics: the bans it holds, the actions it ran, latency, what drift checks and
// syncs found, the restore after a restart, and its queue's depth (served by setUpBanState when its
// section sets metrics).
import { LATENCY_BUCKETS, type MetricsRegistry } from "@net2ban/runtime";

/** Registers the ban state's metrics; `heldBans` is read at each scrape. */
export function registerAgentMetrics(registry: MetricsRegistry, heldBans: () => number) {
  const active = registry.gauge("net2ban_active_bans", "Bans of the ledger this host holds now.");
  registry.onCollect(() => active.set(heldBans()));
  return {
    actions: registry.counter(
      "net2ban_actions_total",
      "Ban actions run on this host, by action and outcome.",
      ["action", "outcome"],
    ),
    latency: registry.histogram(
      "net2ban_ban_latency_seconds",
      "Seconds from a request's timestamp until its action was done on this host.",
      LATENCY_BUCKETS,
    ),
    probeMissing: registry.counter(
      "net2ban_drift_missing_total",
      "Held bans the drift check found no longer in effect on this host (actionprobe).",
    ),
    syncApplied: registry.counter(
      "net2ban_sync_applied_total",
      "Bans applied from a catch-up or drift sync.",
    ),
    restored: registry.counter(
      "net2ban_restored_total",
      "Held bans applied again at start (after a restart or reboot), by outcome.",
      ["outcome"],
    ),
  };
}

export type AgentMetrics = ReturnType<typeof registerAgentMetrics>;
