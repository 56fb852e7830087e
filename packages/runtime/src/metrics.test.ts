// The Prometheus registry's text format and the /metrics endpoint.
import { afterEach, describe, expect, it } from "vitest";
import { MetricsError, MetricsRegistry, type MetricsServer, startMetricsServer } from "./metrics.js";

function memoryLogger() {
  const lines: Array<{ level: string; msg: string }> = [];
  const log = (level: string) => (_o: object, msg?: string) => lines.push({ level, msg: msg ?? "" });
  return {
    info: log("info"),
    warn: log("warn"),
    find: (level: string, text: string) => lines.filter((l) => l.level === level && l.msg.includes(text)),
  };
}

describe("MetricsRegistry", () => {
  it("counters, gauges and histograms in the text exposition format, labels escaped", async () => {
    const registry = new MetricsRegistry();
    const actions = registry.counter("net2ban_actions_total", "Actions run.\nBy outcome.", [
      "action",
      "outcome",
    ]);
    const active = registry.gauge("net2ban_active_bans", "Bans in effect.");
    const latency = registry.histogram("net2ban_latency_seconds", "Latency.", [0.1, 1]);
    actions.inc({ action: "actionban", outcome: "ok" });
    actions.inc({ action: "actionban", outcome: "ok" }, 2);
    actions.inc({ action: 'a"b\\c', outcome: "x\ny" });
    active.set(3);
    latency.observe(0.05);
    latency.observe(0.5);
    latency.observe(5);
    expect(await registry.render()).toBe(
      [
        "# HELP net2ban_actions_total Actions run.\\nBy outcome.",
        "# TYPE net2ban_actions_total counter",
        'net2ban_actions_total{action="actionban",outcome="ok"} 3',
        'net2ban_actions_total{action="a\\"b\\\\c",outcome="x\\ny"} 1',
        "# HELP net2ban_active_bans Bans in effect.",
        "# TYPE net2ban_active_bans gauge",
        "net2ban_active_bans 3",
        "# HELP net2ban_latency_seconds Latency.",
        "# TYPE net2ban_latency_seconds histogram",
        'net2ban_latency_seconds_bucket{le="0.1"} 1',
        'net2ban_latency_seconds_bucket{le="1"} 2',
        'net2ban_latency_seconds_bucket{le="+Inf"} 3',
        "net2ban_latency_seconds_sum 5.55",
        "net2ban_latency_seconds_count 3",
        "",
      ].join("\n"),
    );
    expect(actions.get({ action: "actionban", outcome: "ok" })).toBe(3);
    expect(latency.count()).toBe(3);
  });

  it("refuses bad names, repeated names, wrong labels and negative increments", () => {
    const registry = new MetricsRegistry();
    expect(() => registry.counter("1bad", "x")).toThrow(MetricsError);
    expect(() => registry.counter("ok_total", "x", ["le"])).toThrow(/not a label name/);
    const c = registry.counter("ok_total", "x", ["a"]);
    expect(() => registry.gauge("ok_total", "x")).toThrow(/registered twice/);
    expect(() => c.inc({})).toThrow(/label "a" missing/);
    expect(() => c.inc({ a: "1", b: "2" })).toThrow(/expected labels a/);
    expect(() => c.inc({ a: "1" }, -1)).toThrow(/>= 0/);
    expect(() => registry.histogram("h", "x", [])).toThrow(/buckets/);
  });

  it("collectors run before each scrape; a failing or hanging one does not stop it", async () => {
    const registry = new MetricsRegistry();
    const depth = registry.gauge("net2ban_queue_depth", "Ready messages.", ["queue"]);
    let reads = 0;
    registry.onCollect(() => {
      reads += 1;
      depth.set({ queue: "q" }, reads);
    });
    registry.onCollect(() => {
      throw new Error("broker gone");
    });
    registry.onCollect(() => new Promise(() => undefined));
    expect(await registry.render(50)).toContain('net2ban_queue_depth{queue="q"} 1');
    expect(await registry.render(50)).toContain('net2ban_queue_depth{queue="q"} 2');
  });
});

describe("startMetricsServer", () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("serves GET /metrics; 404 elsewhere, 405 for other methods", async () => {
    const registry = new MetricsRegistry();
    registry.counter("net2ban_requests_total", "Requests.").inc();
    const logger = memoryLogger();
    server = await startMetricsServer({ host: "127.0.0.1", port: 0, registry, logger });
    const base = `http://127.0.0.1:${server.address.port}`;
    const ok = await fetch(`${base}/metrics`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await ok.text()).toContain("net2ban_requests_total 1");
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
    expect(logger.find("info", "metrics on http://127.0.0.1:")).toHaveLength(1);
  });

  it("a port in use is an error at start", async () => {
    const registry = new MetricsRegistry();
    server = await startMetricsServer({ host: "127.0.0.1", port: 0, registry, logger: memoryLogger() });
    await expect(
      startMetricsServer({ host: "127.0.0.1", port: server.address.port, registry, logger: memoryLogger() }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
