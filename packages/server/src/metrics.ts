// The server's Prometheus metrics: requests, the hosts' results and latency, drift, syncs, expiries, the
// active bans and the depth of the queues it reads (served by setUpBanState when [server] metrics is set).
import { LATENCY_BUCKETS, type MetricsRegistry } from "@net2ban/runtime";

/** Registers the ban state's metrics; `activeBans` is read at each scrape. */
export function registerServerMetrics(registry: MetricsRegistry, activeBans: () => number) {
  const active = registry.gauge("net2ban_active_bans", "Active bans in the ledger.");
  registry.onCollect(() => active.set(activeBans()));
  return {
    requests: registry.counter("net2ban_requests_total", "Requests taken from the input queue, by command.", [
      "cmd",
    ]),
    results: registry.counter(
      "net2ban_host_results_total",
      "Results agents reported, by operation and outcome.",
      ["op", "outcome"],
    ),
    latency: registry.histogram(
      "net2ban_ban_latency_seconds",
      "Seconds from a request's timestamp until a host had run its action (from the hosts' results).",
      LATENCY_BUCKETS,
    ),
    drift: registry.counter(
      "net2ban_drift_total",
      "Periodic digests that differed from the ledger, by client.",
      ["client"],
    ),
    syncs: registry.counter("net2ban_syncs_total", "Sets of bans sent to agents, by reason.", ["reason"]),
    expired: registry.counter("net2ban_bans_expired_total", "Bans removed from the ledger at their end."),
  };
}

export type ServerMetrics = ReturnType<typeof registerServerMetrics>;
