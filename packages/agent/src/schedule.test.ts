// The agent's ban schedule: held bans survive restarts, bans cut off by a crash are in doubt, ends fire
// the callback at their deadline (and again after being moved), digests count only live bans.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { digestOf } from "@net2ban/ledger";
import { memoryLogger, type TempDir, tempDir, waitFor } from "@net2ban/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BanProber, probeAction } from "./probe.js";
import { BanSchedule, type ScheduledBan } from "./schedule.js";

let dir: TempDir;
beforeEach(async () => {
  dir = await tempDir("schedule");
});
afterEach(async () => {
  await dir.remove();
});

const ban = (ip: string, expiresAt: number | null) => ({
  file: "net2ban-demo",
  name: "sshd",
  ip,
  params: { port: "ssh" },
  expiresAt,
});

describe("BanSchedule", () => {
  it("held bans and their ends come back after a restart; a begun one is in doubt", async () => {
    const due: ScheduledBan[][] = [];
    const first = await BanSchedule.open({
      dir: dir.path,
      logger: memoryLogger(),
      onDue: (b) => due.push(b),
    });
    const now = first.now();
    await first.hold(await first.begin(ban("192.0.2.1", now + 3600)));
    await first.hold(await first.begin(ban("192.0.2.2", null)));
    await first.begin(ban("192.0.2.3", now + 60));
    await first.setEnd(first.held()[0]!.key, now + 7200);
    await first.close();
    const again = await BanSchedule.open({
      dir: dir.path,
      logger: memoryLogger(),
      onDue: (b) => due.push(b),
    });
    expect(again.held().map((b) => [b.ip, b.expiresAt, b.params])).toEqual([
      ["192.0.2.1", now + 7200, { port: "ssh" }],
      ["192.0.2.2", null, { port: "ssh" }],
    ]);
    expect(again.inDoubt().map((b) => b.ip)).toEqual(["192.0.2.3"]);
    await again.release(again.inDoubt()[0]!.key);
    expect(again.inDoubt()).toEqual([]);
    await again.close();
    expect(due).toEqual([]);
  });

  it("the callback fires at each end, not before; a moved end fires at the new one", async () => {
    let clock = 1_700_000_000_000;
    const due: string[] = [];
    const schedule = await BanSchedule.open({
      dir: dir.path,
      logger: memoryLogger(),
      now: () => clock,
      onDue: (bans) => due.push(...bans.map((b) => b.ip)),
    });
    const t0 = clock / 1000;
    await schedule.hold(await schedule.begin(ban("192.0.2.1", t0 + 0.05)));
    await schedule.hold(await schedule.begin(ban("192.0.2.2", t0 + 0.1)));
    await schedule.hold(await schedule.begin(ban("192.0.2.3", null)));
    schedule.start();
    // The timer waits for real time; the clock it compares with is ours.
    await new Promise((r) => setTimeout(r, 80));
    expect(due).toEqual([]);
    clock += 60;
    await waitFor(() => due.length === 1, { what: "the first end", timeoutMs: 2000 });
    expect(due).toEqual(["192.0.2.1"]);
    await schedule.setEnd(schedule.held()[1]!.key, t0 + 0.2);
    clock += 60;
    await new Promise((r) => setTimeout(r, 80));
    expect(due).toEqual(["192.0.2.1"]);
    clock += 100;
    await waitFor(() => due.length === 2, { what: "the moved end", timeoutMs: 2000 });
    expect(due).toEqual(["192.0.2.1", "192.0.2.2"]);
    expect(schedule.overdue().map((b) => b.ip)).toEqual(["192.0.2.1", "192.0.2.2"]);
    // Past their end, they no longer count in the digest.
    expect(schedule.digest()).toEqual(digestOf([schedule.held()[2]!.key]));
    expect(schedule.digest(["x"]).count).toBe(2);
    await schedule.close();
  });
});

describe("BanSchedule batches", () => {
  it("a batch of bans costs one flush per step (begin, settle, ends, release), not one per ban", async () => {
    const schedule = await BanSchedule.open({ dir: dir.path, logger: memoryLogger(), onDue: () => {} });
    const now = schedule.now();
    const bans = Array.from({ length: 500 }, (_, i) => ban(`10.0.${i >> 8}.${i & 255}`, now + 3600));
    const before = schedule.flushes;
    const entries = await schedule.beginAll(bans);
    expect(schedule.flushes - before).toBe(1);
    expect(entries.map((e) => e.ip)).toEqual(bans.map((b) => b.ip));
    expect(schedule.inDoubt()).toHaveLength(500);
    await schedule.settle(
      entries.slice(0, 400),
      entries.slice(400).map((e) => e.key),
    );
    expect(schedule.flushes - before).toBe(2);
    expect(schedule.size).toBe(400);
    expect(schedule.inDoubt()).toEqual([]);
    await schedule.setEnds(entries.slice(0, 10).map((e) => ({ key: e.key, expiresAt: now + 7200 })));
    await schedule.releaseAll(entries.slice(390, 400).map((e) => e.key));
    expect(schedule.flushes - before).toBe(4);
    // Nothing to write: no flush.
    await schedule.setEnds(entries.slice(0, 10).map((e) => ({ key: e.key, expiresAt: now + 7200 })));
    await schedule.releaseAll(["absent"]);
    expect(schedule.flushes - before).toBe(4);
    await schedule.close();
    const again = await BanSchedule.open({ dir: dir.path, logger: memoryLogger(), onDue: () => {} });
    expect(again.size).toBe(390);
    expect(again.held()[0]!.expiresAt).toBe(now + 7200);
    expect(again.held()[10]!.expiresAt).toBe(now + 3600);
    expect(again.inDoubt()).toEqual([]);
    await again.close();
  });
});

describe("probes", () => {
  const demo = (probe: string) =>
    [
      "[Definition]",
      "actionban = echo ban <ip> >> <banlog>",
      "actionunban = echo unban <ip> >> <banlog>",
      ...(probe === "" ? [] : [`actionprobe = ${probe}`]),
      "[Init]",
      `banlog = ${join(dir.path, "bans.log")}`,
      "",
    ].join("\n");

  it("actionprobe is rendered as actionban would be: exit 0 present, non-zero missing", async () => {
    await writeFile(join(dir.path, "demo.conf"), demo("grep -qx 'ban <ip>' <banlog>"));
    await writeFile(join(dir.path, "bans.log"), "ban 192.0.2.1\n");
    const prober = new BanProber({ actionsDir: dir.path, timeoutSeconds: 5 });
    expect(prober.hasProbe("demo")).toBe(true);
    expect(await prober.probe({ file: "demo", params: { ip: "192.0.2.1", name: "x" } })).toEqual({
      state: "present",
    });
    expect(await prober.probe({ file: "demo", params: { ip: "192.0.2.2", name: "x" } })).toMatchObject({
      state: "missing",
      exitCode: 1,
    });
  });

  it("no probe, a missing action file, or a refused value: unchecked, never missing", async () => {
    await writeFile(join(dir.path, "plain.conf"), demo(""));
    const prober = new BanProber({ actionsDir: dir.path, timeoutSeconds: 5 });
    expect(prober.hasProbe("plain")).toBe(false);
    expect(prober.hasProbe("absent")).toBe(false);
    expect((await prober.probe({ file: "plain", params: { ip: "192.0.2.1" } })).state).toBe("unchecked");
    expect((await prober.probe({ file: "absent", params: { ip: "192.0.2.1" } })).state).toBe("unchecked");
    await writeFile(join(dir.path, "demo.conf"), demo("grep -qx 'ban <ip>' <banlog>"));
    expect((await prober.probe({ file: "demo", params: { ip: "not an address" } })).state).toBe("unchecked");
  });

  it("a probe edited on disk is picked up; family sections are replaced too", async () => {
    await writeFile(join(dir.path, "demo.conf"), demo("false"));
    const prober = new BanProber({ actionsDir: dir.path, timeoutSeconds: 5 });
    expect((await prober.probe({ file: "demo", params: { ip: "192.0.2.1" } })).state).toBe("missing");
    await writeFile(join(dir.path, "demo.conf"), `${demo("true")}# changed\n`);
    expect((await prober.probe({ file: "demo", params: { ip: "192.0.2.1" } })).state).toBe("present");
    const { loadAction } = await import("@net2ban/actions");
    await writeFile(
      join(dir.path, "fam.conf"),
      "[Definition]\nactionban = echo 4\nactionprobe = echo p4\n[Definition?family=inet6]\nactionban = echo 6\nactionprobe = echo p6\n",
    );
    const probe = probeAction(loadAction(dir.path, "fam"))!;
    const definition = probe.config.sections.get("Definition")!;
    expect(definition.get("actionban")?.value).toBe("echo p4");
    expect(definition.get("actionban?family=inet6")?.value).toBe("echo p6");
  });
});
