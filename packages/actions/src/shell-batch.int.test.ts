// Stock fail2ban actions through executeBatch: one actionban per ban, in order, several to one shell,
// on real iptables in a namespace of the test's own; a failed ban goes on through check and repair.

import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { assertNetnsTools, TestNamespace } from "../test/netns.js";
import { assertFail2banInstalled, STOCK_ACTIONS_DIR } from "../test/reference.js";
import { ActionEngine, type ActionRequest } from "./engine.js";
import type { RenderedCommand } from "./render.js";
import { runCommand } from "./run.js";
import { SHELL_BATCH_DRIVER } from "./shell-batch.js";

const silent = { info() {}, warn() {}, error() {}, debug() {} };
const FILE = "iptables-multiport";

function ban(ip: string): ActionRequest {
  return { file: FILE, action: "actionban", params: { name: "sshd", port: "ssh", ip } };
}

beforeAll(() => {
  assertNetnsTools();
  assertFail2banInstalled();
});

describe("executeBatch with a stock action (iptables-multiport)", () => {
  let ns: TestNamespace;
  let engine: ActionEngine;
  let ran: RenderedCommand[];

  beforeEach(() => {
    ns = new TestNamespace();
    for (const name of ["iptables-multiport.conf", "iptables.conf"]) {
      cpSync(join(STOCK_ACTIONS_DIR, name), join(ns.actionsDir, name));
    }
    writeFileSync(
      join(ns.actionsDir, "iptables.local"),
      `[Init]\niptables = ip netns exec ${ns.name} iptables <lockingopt>\n`,
    );
    ran = [];
    engine = new ActionEngine({
      actionsDir: ns.actionsDir,
      logger: silent,
      run: (command, options) => {
        ran.push(command);
        return runCommand(command, options);
      },
    });
  });
  afterEach(() => {
    ns.destroy();
  });

  const rules = (): string[] =>
    ns
      .exec("iptables", "-S", "f2b-sshd")
      .split("\n")
      .filter((l) => l.startsWith("-A f2b-sshd -s"));

  it("runs actionstart, then every ban in one shell, in order, each with its own outcome", async () => {
    const addresses = Array.from({ length: 30 }, (_, i) => `192.0.2.${i + 1}`);
    const outcomes = await engine.executeBatch(addresses.map(ban));
    expect(outcomes.every((o) => o.ok && o.exitCode === 0)).toBe(true);
    const drivers = ran.filter((c) => Array.isArray(c) && c[0] === SHELL_BATCH_DRIVER);
    expect(drivers).toHaveLength(1);
    expect(ran).toHaveLength(2); // actionstart + one shell for 30 bans
    // `-I f2b-sshd 1` puts each ban first: the last ban is the first rule, as one by one would
    expect(rules()).toEqual(
      addresses
        .map((ip) => `-A f2b-sshd -s ${ip}/32 -j REJECT --reject-with icmp-port-unreachable`)
        .reverse(),
    );
    expect(outcomes[0]!.steps.map((s) => s.operation)).toEqual(["actionstart", "actionban"]);
    expect(outcomes[1]!.steps.map((s) => s.operation)).toEqual(["actionban"]);
    expect(outcomes[1]!.command).toContain("192.0.2.2");
  });

  it("a ban that fails reports its own exit status and stderr, then goes through check and repair before the next", async () => {
    await engine.executeBatch([ban("192.0.2.1")]);
    // the jail's chain removed by hand: the next ban fails, actioncheck fails, stop + start repair it
    ns.exec("iptables", "-D", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "22", "-j", "f2b-sshd");
    ns.exec("iptables", "-F", "f2b-sshd");
    ns.exec("iptables", "-X", "f2b-sshd");
    ran.length = 0;
    const outcomes = await engine.executeBatch(["192.0.2.2", "192.0.2.3", "192.0.2.4"].map(ban));
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true]);
    const first = outcomes[0]!.steps;
    expect(first.map((s) => [s.operation, s.ok])).toEqual([
      ["actionban", false],
      ["actioncheck", false],
      ["actionstop", false],
      ["actionstart", true],
      ["actioncheck", true],
      ["actionban", true],
    ]);
    expect(first[0]!.stderr).toMatch(/No chain/);
    expect(first[0]!.exitCode).not.toBe(0);
    expect(rules()).toHaveLength(3);
    // the two bans after the failed one ran together in a second shell
    const drivers = ran.filter((c) => Array.isArray(c) && c[0] === SHELL_BATCH_DRIVER);
    expect(drivers).toHaveLength(2);
  });

  it("the same outcome as one by one: an unban of an absent rule fails alone", async () => {
    const outcomes = await engine.executeBatch([
      ban("192.0.2.10"),
      { file: FILE, action: "actionunban", params: { name: "sshd", port: "ssh", ip: "192.0.2.10" } },
      { file: FILE, action: "actionunban", params: { name: "sshd", port: "ssh", ip: "192.0.2.11" } },
      ban("192.0.2.12"),
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false, true]);
    expect(outcomes[2]!.stderr).toMatch(/Bad rule|does a matching rule exist/);
    expect(rules()).toEqual(["-A f2b-sshd -s 192.0.2.12/32 -j REJECT --reject-with icmp-port-unreachable"]);
  });
});
