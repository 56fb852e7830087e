// Ban state end to end on the real RabbitMQ: net2banctl, net2ban-server and net2ban-agent processes, the
// demo action's file as each host's firewall. Catch-up after an absence longer than valid_wtime, a host
// added by SIGHUP, expiry on every host with the server stopped, --wait, status --json, drift repair of a
// ban deleted by hand, and a repeated ban that extends instead of running again.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { brokerUrl, requireBroker } from "@net2ban/test-utils";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Fleet, type FleetOptions } from "./fleet.js";

const url = brokerUrl();
const fleets: Fleet[] = [];

beforeAll(() => requireBroker(url));

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.close()));
});

async function fleetOf(options: FleetOptions): Promise<Fleet> {
  const fleet = await Fleet.create({ brokerUrl: url, rounds: 1000, ...options });
  fleets.push(fleet);
  return fleet;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const demo = ["--action", "net2ban-demo"];

/** The demo action's probe: the ban is in effect while its line is in the agent's file. */
async function addProbe(fleet: Fleet, agent: string): Promise<void> {
  await writeFile(
    join(fleet.agentDir(agent), "actions", "net2ban-demo.local"),
    "[Definition]\nactionprobe = grep -qx 'ban <ip>' <banlog>\n",
  );
}

/** Runs net2banctl and parses its --json line. */
async function ctlJson(
  fleet: Fleet,
  args: string[],
): Promise<{ code: number | null; json: Record<string, unknown>; stderr: string }> {
  const result = await fleet.ctl([...args, "--json"]);
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(
      `net2banctl ${args.join(" ")}: not JSON (exit ${result.code}): ${result.stdout}${result.stderr}`,
    );
  }
  return { code: result.code, json, stderr: result.stderr };
}

describe("catch-up", () => {
  it("an agent down for longer than valid_wtime gets every active ban on return, and none that ended meanwhile", async () => {
    const fleet = await fleetOf({ agents: 2, validWindowSeconds: 2, label: "stcatch" });
    await fleet.startAll();
    await fleet.stop("agent2");
    expect((await fleet.ctl(["ban", "192.0.2.10", ...demo, "--for", "1h"])).code).toBe(0);
    expect((await fleet.ctl(["ban", "192.0.2.11", ...demo, "--for", "2s"])).code).toBe(0);
    // fail2ban's way: exec actionban with its bantime goes into the ledger too.
    expect(
      (await fleet.ctl(["exec", "net2ban-demo", "actionban", "ip=192.0.2.12", "bantime=3600"])).code,
    ).toBe(0);
    expect((await fleet.ctl(["ban", "192.0.2.13", ...demo, "--for", "permanent"])).code).toBe(0);
    for (const ip of ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"]) {
      await fleet.waitForBanLine("agent1", `ban ${ip}`);
    }
    // Longer than valid_wtime: the queued commands are stale, and 192.0.2.11 has ended.
    await sleep(3500);
    await fleet.waitForBanLine("agent1", "unban 192.0.2.11");
    await fleet.startAgent("agent2");
    for (const ip of ["192.0.2.10", "192.0.2.12", "192.0.2.13"])
      await fleet.waitForBanLine("agent2", `ban ${ip}`);
    await fleet.waitForLog("agent2", (l) => l.msg.startsWith("sync done"));
    expect((await fleet.banLines("agent2")).sort()).toEqual([
      "ban 192.0.2.10",
      "ban 192.0.2.12",
      "ban 192.0.2.13",
    ]);
    expect(fleet.process("agent2").lines.some((l) => l.msg === "message rejected")).toBe(true);
    await fleet.waitForLog("server", (l) =>
      l.msg.startsWith("catch-up for agent2: it holds 0 ban(s), the ledger has 3"),
    );
  });

  it("a host added by SIGHUP gets the active set", async () => {
    const fleet = await fleetOf({ agents: 3, label: "sthup" });
    const full = await readFile(fleet.serverConfigPath, "utf8");
    const without = full.replace(/\[agent3\]\nkey = [0-9a-f]+\nprotocol = 2\n/, "");
    expect(without).not.toBe(full);
    await writeFile(fleet.serverConfigPath, without);
    await fleet.startServer();
    await Promise.all([fleet.startAgent("agent1"), fleet.startAgent("agent2")]);
    expect((await fleet.ctl(["ban", "198.51.100.1", ...demo, "--wait"])).code).toBe(0);
    expect((await fleet.ctl(["ban", "198.51.100.2", ...demo, "--name", "web", "--wait"])).code).toBe(0);
    await writeFile(fleet.serverConfigPath, full);
    fleet.process("server").child.kill("SIGHUP");
    await fleet.waitForLog("server", (l) => l.msg === "sync to agent3: 2 active ban(s)");
    await fleet.startAgent("agent3");
    await fleet.waitForBanLine("agent3", "ban 198.51.100.1");
    await fleet.waitForBanLine("agent3", "ban 198.51.100.2");
    await fleet.waitForLog("agent3", (l) => l.msg.startsWith("sync done"));
    expect((await fleet.banLines("agent3")).sort()).toEqual(["ban 198.51.100.1", "ban 198.51.100.2"]);
  });
});

describe("expiry", () => {
  it("each agent runs actionunban within a second of the deadline, with the server stopped", async () => {
    const fleet = await fleetOf({ agents: 2, label: "stexp" });
    await fleet.startAll();
    const { code, json } = await ctlJson(fleet, ["ban", "203.0.113.50", ...demo, "--for", "4s", "--wait"]);
    expect(code).toBe(0);
    const deadline = json["expiresAt"] as number;
    expect(deadline).toBeGreaterThan(Date.now() / 1000);
    expect(await fleet.stop("server")).toBe(0);
    for (const agent of fleet.agentNames) {
      await fleet.waitForBanLine(agent, "unban 203.0.113.50", 15_000);
      const line = await fleet.waitForLog(agent, (l) => l.msg === "IP 203.0.113.50 unbanned");
      // The agent's own log time, not this test's polling: the schedule fires at the deadline.
      const late = line.time / 1000 - deadline;
      expect(late, `${agent} unbanned ${late.toFixed(3)} s after the deadline`).toBeGreaterThanOrEqual(0);
      expect(late, `${agent} unbanned ${late.toFixed(3)} s after the deadline`).toBeLessThan(1);
      expect(await fleet.banLines(agent)).toEqual(["ban 203.0.113.50", "unban 203.0.113.50"]);
    }
  });
});

describe("confirmations and status", () => {
  it("--wait exits 0 when every host confirms, and 4 naming the host that is down", async () => {
    const fleet = await fleetOf({ agents: 2, label: "stwait" });
    await fleet.startAll();
    const ok = await fleet.ctl(["ban", "203.0.113.60", ...demo, "--wait"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("agent1: ok (ban");
    expect(ok.stdout).toContain("agent2: ok (ban");
    expect(ok.stdout).toContain("confirmed by all 2 host(s)");
    await fleet.stop("agent2");
    const down = await fleet.ctl(["ban", "203.0.113.61", ...demo, "--wait", "--timeout", "3s"]);
    expect(down.code).toBe(4);
    expect(down.stdout).toContain("agent1: ok (ban");
    expect(down.stderr).toBe("net2banctl: ban 203.0.113.61: no answer within 3s from agent2\n");
    // exec --wait follows the original's syntax host by host too.
    const exec = await fleet.ctl([
      "exec",
      "net2ban-demo",
      "actionban",
      "ip=203.0.113.62",
      "--wait",
      "--timeout",
      "3s",
    ]);
    expect(exec.code).toBe(4);
    expect(exec.stderr).toContain("agent2");
    // Unbanning what nobody holds is harmless: nothing to lift, exit 0.
    const nothing = await fleet.ctl(["unban", "192.0.2.222", "--wait"]);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain("not in the ledger: nothing to lift");
  });

  it("status --json matches what each host did", async () => {
    const fleet = await fleetOf({ agents: 2, label: "ststatus" });
    // An action only agent1 has: agent2 fails it (no such action file).
    await writeFile(
      join(fleet.agentDir("agent1"), "actions", "only-one.conf"),
      `[Definition]\nactionban = echo only <ip> >> ${fleet.banLog("agent1")}\nactionunban = true\n`,
    );
    await fleet.startAll();
    expect((await fleet.ctl(["ban", "203.0.113.70", ...demo, "--for", "1h", "--wait"])).code).toBe(0);
    const partial = await fleet.ctl([
      "ban",
      "203.0.113.71",
      "--action",
      "only-one",
      "--name",
      "web",
      "--wait",
    ]);
    expect(partial.code).toBe(4);
    expect(partial.stderr).toContain("failed on agent2");
    const { code, json } = await ctlJson(fleet, ["status"]);
    expect(code).toBe(0);
    const bans = json["bans"] as Array<Record<string, unknown>>;
    expect(bans.map((b) => [b["ip"], b["file"], b["name"]])).toEqual([
      ["203.0.113.70", "net2ban-demo", "default"],
      ["203.0.113.71", "only-one", "web"],
    ]);
    const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(bans[0]!["hosts"]).toEqual({
      agent1: { state: "applied", at: expect.any(Number), since: iso },
      agent2: { state: "applied", at: expect.any(Number), since: iso },
    });
    expect(bans[1]!["hosts"]).toEqual({
      agent1: { state: "applied", at: expect.any(Number), since: iso },
      agent2: {
        state: "failed",
        at: expect.any(Number),
        since: iso,
        exitCode: null,
        detail: expect.stringContaining("only-one"),
      },
    });
    expect(bans[0]!["expiresAt"]).toBeGreaterThan(Date.now() / 1000 + 3500);
    expect(bans[0]!["expires"]).toBe(
      new Date((bans[0]!["expiresAt"] as number) * 1000).toISOString().replace(/\.\d+Z$/, "Z"),
    );
    // ...and what the hosts' own files say.
    expect(await fleet.banLines("agent1")).toEqual(["ban 203.0.113.70", "only 203.0.113.71"]);
    expect(await fleet.banLines("agent2")).toEqual(["ban 203.0.113.70"]);
    const one = await ctlJson(fleet, ["status", "203.0.113.71"]);
    expect((one.json["bans"] as unknown[]).length).toBe(1);
    // unban clears the ledger and every host.
    expect((await fleet.ctl(["unban", "203.0.113.70", "--wait"])).code).toBe(0);
    expect(await fleet.banLines("agent2")).toEqual(["ban 203.0.113.70", "unban 203.0.113.70"]);
    const after = await ctlJson(fleet, ["status"]);
    expect((after.json["bans"] as Array<{ ip: string }>).map((b) => b.ip)).toEqual(["203.0.113.71"]);
  });
});

describe("drift and repeats", () => {
  it("a ban deleted by hand on one host comes back within the drift interval", async () => {
    const fleet = await fleetOf({ agents: 2, label: "stdrift", global: { drift_interval: "1s" } });
    for (const agent of fleet.agentNames) await addProbe(fleet, agent);
    await fleet.startAll();
    expect((await fleet.ctl(["ban", "203.0.113.80", ...demo, "--wait"])).code).toBe(0);
    expect((await fleet.ctl(["ban", "203.0.113.81", ...demo, "--wait"])).code).toBe(0);
    // The operator deletes the rule of 203.0.113.80 on agent1 (here: its line in the demo action's file).
    await writeFile(fleet.banLog("agent1"), "ban 203.0.113.81\n");
    await fleet.waitForLog(
      "agent1",
      (l) => l.msg.startsWith("ban net2ban-demo/default 203.0.113.80 is no longer in effect on this host"),
      10_000,
    );
    await fleet.waitForBanLine("agent1", "ban 203.0.113.80", 10_000);
    await fleet.waitForLog("server", (l) =>
      l.msg.startsWith("drift on agent1: it holds 1 ban(s), the ledger has 2"),
    );
    expect((await fleet.banLines("agent1")).sort()).toEqual(["ban 203.0.113.80", "ban 203.0.113.81"]);
    // The other host was not touched.
    expect(await fleet.banLines("agent2")).toEqual(["ban 203.0.113.80", "ban 203.0.113.81"]);
  });

  it("a repeated ban extends the end instead of running the action again", async () => {
    const fleet = await fleetOf({ agents: 2, label: "strepeat" });
    await fleet.startAll();
    const first = await ctlJson(fleet, ["ban", "203.0.113.90", ...demo, "--for", "1m", "--wait"]);
    expect(first.json["change"]).toBe("new");
    const again = await ctlJson(fleet, ["ban", "203.0.113.90", ...demo, "--for", "1h", "--wait"]);
    expect(again.code).toBe(0);
    expect(again.json["change"]).toBe("extended");
    expect(again.json["hosts"]).toEqual({
      agent1: expect.objectContaining({ ok: true, op: "extend" }),
      agent2: expect.objectContaining({ ok: true, op: "extend" }),
    });
    expect(again.json["expiresAt"] as number).toBeGreaterThan((first.json["expiresAt"] as number) + 3000);
    const shorter = await ctlJson(fleet, ["ban", "203.0.113.90", ...demo, "--for", "5m", "--wait"]);
    expect(shorter.json["change"]).toBe("unchanged");
    for (const agent of fleet.agentNames) expect(await fleet.banLines(agent)).toEqual(["ban 203.0.113.90"]);
  });
});
