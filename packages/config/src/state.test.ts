// Ban-state settings: durations as operators write them, bantime / drift_interval / metrics in net2ban.cfg.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DurationError, formatDuration, parseDurationSeconds } from "./duration.js";
import { ConfigError } from "./errors.js";
import { metricsFor, parseConfig } from "./resolve.js";

const BASE = `[global]
server = 10.0.0.1
rounds = 1000
secret = s3cret
mode = server
authkey = authk
`;
const WITH_PEERS = `${BASE}
[server]
key = ks

[web1]
key = k1
`;

describe("parseDurationSeconds", () => {
  it.each([
    ["90s", 90],
    ["10m", 600],
    ["1h", 3600],
    ["1d", 86_400],
    ["2w", 1_209_600],
    ["600", 600],
    ["1h30m", 5400],
    ["1h 30m", 5400],
    ["1.5s", 1.5],
    [" 10 M ", 600],
  ])("%j is %d seconds", (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });

  it("reads permanent, forever, never and fail2ban's -1 as null only where allowed", () => {
    for (const word of ["permanent", "forever", "never", "-1", "PERMANENT"]) {
      expect(parseDurationSeconds(word, { permanent: true })).toBeNull();
      expect(() => parseDurationSeconds(word)).toThrow(DurationError);
    }
  });

  it.each(["", "s", "10x", "1h 30", "-5m", "0", "0s", "1e3", "10m;", "ten minutes", "101w 100000d"])(
    "refuses %j with the forms it takes",
    (text) => {
      expect(() => parseDurationSeconds(text)).toThrow(/expected a duration like 90s|longer than 100 years/);
    },
  );

  it("formats back to a form it parses to the same whole seconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 * 365 * 86_400 }), (seconds) => {
        expect(parseDurationSeconds(formatDuration(seconds))).toBe(seconds);
      }),
    );
    expect(formatDuration(null)).toBe("permanent");
    expect(formatDuration(5400)).toBe("1h30m");
    expect(formatDuration(0.25)).toBe("0.3s");
  });
});

describe("bantime, drift_interval and metrics in net2ban.cfg", () => {
  it("defaults: bans last 10m, agents check every 60s, no metrics", () => {
    const { config } = parseConfig(WITH_PEERS, "net2ban.cfg");
    expect(config.state).toEqual({
      banTimeSeconds: 600,
      driftIntervalSeconds: 60,
      resultsQueue: "net2ban_results",
    });
    expect(metricsFor(config, "server")).toBeUndefined();
    expect(metricsFor(config, "web1")).toBeUndefined();
  });

  it("[server] bantime wins over [global]; permanent means no end", () => {
    const both = parseConfig(`${BASE}bantime = 1h\n[server]\nkey = ks\nbantime = permanent\n`, "n.cfg");
    expect(both.config.state.banTimeSeconds).toBeNull();
    const global = parseConfig(`${BASE}bantime = 1d\ndrift_interval = 1.5s\n[server]\nkey = ks\n`, "n.cfg");
    expect(global.config.state).toMatchObject({ banTimeSeconds: 86_400, driftIntervalSeconds: 1.5 });
  });

  it("metrics: a section's own address, else [global]'s", () => {
    const text = `${BASE}metrics = 127.0.0.1:9464\n[server]\nkey = ks\nmetrics = :9465\n[web1]\nkey = k1\n[web2]\nkey = k2\nmetrics = [::1]:9466\n`;
    const { config, warnings } = parseConfig(text, "n.cfg");
    expect(warnings).toEqual([]);
    expect(metricsFor(config, "server")).toEqual({ host: "0.0.0.0", port: 9465 });
    expect(metricsFor(config, "web1")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(metricsFor(config, "web2")).toEqual({ host: "::1", port: 9466 });
  });

  it("refuses bad values with one line each", () => {
    const text = `${BASE}bantime = 10 minutes\ndrift_interval = permanent\nmetrics = 9464\n[server]\nkey = ks\n[web1]\nkey = k1\nmetrics = [fffff::1]:1\n`;
    let error: unknown;
    try {
      parseConfig(text, "net2ban.cfg");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).errors).toEqual([
      'net2ban.cfg: [global] bantime: expected a duration like 90s, 10m, 1h, 1d or 1h30m, or permanent, got "10 minutes"',
      'net2ban.cfg: [global] drift_interval: expected a duration like 90s, 10m, 1h, 1d or 1h30m, got "permanent"',
      'net2ban.cfg: [global] metrics: expected host:port (e.g. 127.0.0.1:9464, [::1]:9464 or :9464), got "9464"',
      'net2ban.cfg: [web1] metrics: "fffff::1" is not an IPv6 address',
    ]);
  });

  it("no client may be named results: that queue is the agents' results", () => {
    expect(() =>
      parseConfig(`${BASE}queue_prefix = n2b_\n[server]\nkey = ks\n[results]\nkey = k\n`, "n.cfg"),
    ).toThrow(
      '[results]: a client cannot be named "results": n2b_results is the queue of the agents\' results',
    );
  });

  it("warns about drift_interval outside [global] and bantime in a client section", () => {
    const { warnings } = parseConfig(`${WITH_PEERS}bantime = 1h\ndrift_interval = 5s\n`, "n.cfg");
    expect(warnings).toEqual([
      "n.cfg: [web1] bantime: only read in [global] and [server], ignored",
      "n.cfg: [web1] drift_interval: only read in [global], ignored",
    ]);
  });
});
