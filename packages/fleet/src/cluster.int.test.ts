// Issue 9 proof: on a 3-node cluster with quorum queues, killing the server's node with SIGKILL, bringing
// it back and then killing a second node loses no ban and runs none twice, with protocol 2 and (issue 14,
// finding 5) with protocol 1 on every peer. Needs root, rabbitmq-server and
// a build (the fleet spawns the bins). Bounded: 3000 bans at 20/s, about four minutes.
//
// The order ("a second node is killed and the first restarted") would leave one node of three for
// a while: no majority, and every quorum queue stops taking messages (as RabbitMQ promises). So A is
// restarted first, and B is killed only once `rabbitmq-diagnostics check_if_node_is_quorum_critical`
// says A's replicas have caught up: at every moment two of the three nodes are up (B+C, then A+B+C, A+C).

import { describe, expect, it } from "vitest";
import { formatReport, runFailoverScenario } from "./cluster.js";

describe("RabbitMQ cluster failover with quorum queues", () => {
  it("every agent runs every confirmed ban exactly once through two node crashes", async () => {
    const report = await runFailoverScenario({
      queueType: "quorum",
      bans: 3000,
      seed: 9,
      log: (line) => console.log(`[cluster] ${line}`),
    });
    console.log(`[cluster] report\n${formatReport(report)}\n${JSON.stringify(report)}`);

    expect(report.sent).toBe(3000);
    for (const [name, tally] of Object.entries(report.agents)) {
      expect({ name, ...tally }).toEqual({ name, executed: 3000, lost: 0, duplicated: 0, unexpected: 0 });
    }
    // Both kills happened while the stream ran, and every process failed over off its killed node.
    expect(report.timeline.map((t) => t.event)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^killed A/), expect.stringMatching(/^killed B/)]),
    );
    expect(report.connections["server"]?.length).toBeGreaterThan(1);
    expect(report.connections["agent1"]?.length).toBeGreaterThan(1);
    expect(report.gaps.every((g) => g.gapMs !== null)).toBe(true);
  }, 660_000);

  it("with protocol = 1 on every peer, every v1 agent runs every confirmed ban exactly once", async () => {
    // v1 agents dedupe by the bytes they receive: a request the server forwards again (its publish to the
    // agents was not confirmed when node A died, so the input came back) must reach them unchanged.
    const bans = 600;
    const report = await runFailoverScenario({
      queueType: "quorum",
      protocol: 1,
      bans,
      seed: 5,
      // Slow enough that both kills fall inside the stream (A's restart takes 10-20 s)...
      ratePerSecond: 10,
      // ...but A dies while the server forwards a backlog: every publish to the agents then in flight is
      // unconfirmed, the input comes back and the server forwards it again.
      killFirstAt: 0.3,
      burstBeforeFirstKill: 120,
      log: (line) => console.log(`[cluster v1] ${line}`),
    });
    console.log(`[cluster v1] report\n${formatReport(report)}\n${JSON.stringify(report)}`);

    expect(report.protocol).toBe(1);
    expect(report.sent).toBe(bans);
    for (const [name, tally] of Object.entries(report.agents)) {
      expect({ name, ...tally }).toEqual({ name, executed: bans, lost: 0, duplicated: 0, unexpected: 0 });
    }
    const events = report.timeline.map((t) => t.event);
    const killedB = events.findIndex((e) => e.startsWith("killed B"));
    expect(events.findIndex((e) => e.startsWith("killed A"))).toBeGreaterThanOrEqual(0);
    expect(killedB).toBeGreaterThanOrEqual(0);
    expect(killedB).toBeLessThan(events.findIndex((e) => e.startsWith(`all ${bans} bans confirmed`)));
    expect(report.connections["server"]?.length).toBeGreaterThan(1);
    expect(report.connections["agent1"]?.length).toBeGreaterThan(1);
  }, 660_000);
});
