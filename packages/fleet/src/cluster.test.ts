// The failover scenario's bookkeeping: seeded addresses, the tally of a ban log, gaps and latency, and
// the URL order that puts each process on the node the scenario gives it.

import { preferredUrlIndex } from "@net2ban/transport";
import { describe, expect, it } from "vitest";
import { banAddresses, gapAfter, latencyOf, longestPause, tallyBans, urlsPreferring } from "./cluster.js";

describe("banAddresses", () => {
  it("gives distinct benchmark-range addresses, the same for the same seed", () => {
    const a = banAddresses(3000, 9);
    expect(new Set(a).size).toBe(3000);
    expect(a.every((ip) => /^198\.(18|19)\.\d{1,3}\.\d{1,3}$/.test(ip))).toBe(true);
    expect(banAddresses(3000, 9)).toEqual(a);
    expect(banAddresses(3000, 10)).not.toEqual(a);
  });
});

describe("tallyBans", () => {
  it("counts executed, lost, duplicated and unexpected bans", () => {
    const sent = ["198.18.0.1", "198.18.0.2", "198.18.0.3"];
    const lines = [
      "ban 198.18.0.1",
      "ban 198.18.0.2",
      "ban 198.18.0.2",
      "ban 198.18.9.9",
      "unban 198.18.0.3",
    ];
    expect(tallyBans(sent, lines)).toEqual({ executed: 2, lost: 1, duplicated: 1, unexpected: 1 });
    expect(tallyBans(sent, [])).toEqual({ executed: 0, lost: 3, duplicated: 0, unexpected: 0 });
  });
});

describe("gapAfter and latencyOf", () => {
  const sentAt = new Map([
    ["a", 100],
    ["b", 1000],
    ["c", 1200],
  ]);
  const executions = [
    { ip: "a", at: 1100 }, // sent before the kill: a backlog, not the service after it
    { ip: "b", at: 1500 },
    { ip: "c", at: 1300 },
  ];

  it("measures from the event to the first execution of a ban sent after it", () => {
    expect(gapAfter(900, executions, sentAt)).toBe(400);
    expect(gapAfter(1100, executions, sentAt)).toBe(200);
    expect(gapAfter(5000, executions, sentAt)).toBeNull();
  });

  it("gives p50, p99 and max of sent-to-executed", () => {
    expect(latencyOf(executions, sentAt)).toEqual({ p50Ms: 500, p99Ms: 1000, maxMs: 1000 });
    expect(latencyOf([], sentAt)).toEqual({ p50Ms: 0, p99Ms: 0, maxMs: 0 });
  });
});

describe("longestPause", () => {
  it("is the longest interval between consecutive times in the window, from its start", () => {
    expect(longestPause([150, 120, 400, 410], 100, 500)).toBe(250);
    expect(longestPause([], 100, 500)).toBe(400);
  });
});

describe("urlsPreferring", () => {
  it("puts the wanted node where the client's connection name makes it start, keeping the ring order", () => {
    const urls = ["amqp://a/", "amqp://b/", "amqp://c/"];
    for (const name of ["net2ban-server@vm", "net2ban-agent agent1@vm", "net2ban-agent agent2@vm", "x"]) {
      for (const target of [0, 1, 2]) {
        const list = urlsPreferring(urls, target, name);
        const start = preferredUrlIndex(name, 3);
        expect(list[start]).toBe(urls[target]);
        expect(list[(start + 1) % 3]).toBe(urls[(target + 1) % 3]);
        expect([...list].sort()).toEqual(urls);
      }
    }
  });
});
