// The engine's lifecycle against fail2ban's CommandAction: the same jail life (bans of both families,
// an unban, stop) with the same failing commands runs the same commands in the same order.

import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  assertFail2banInstalled,
  type ReferenceSequence,
  referenceRender,
  STOCK_ACTIONS_DIR,
} from "../test/reference.js";
import { ActionEngine } from "./engine.js";
import type { RenderedCommand } from "./render.js";

const FIXTURES = fileURLToPath(new URL("../test/fixtures/action.d", import.meta.url));
const hostname = { fq: "host.example.com", short: "host" };
const now = 1700000000.5;
const silent = { info() {}, warn() {}, error() {}, debug() {} };

type FailRules = NonNullable<ReferenceSequence["fail"]>;

const ticket = { failures: "4", time: "1700000000", matches: "m; $(x)", bantime: "600" };
const life = (name: string) => [
  { operation: "actionban", params: { name, port: "ssh", ip: "192.0.2.1", ...ticket } },
  { operation: "actionban", params: { name, port: "ssh", ip: "192.0.2.2", ...ticket } },
  { operation: "actionban", params: { name, port: "ssh", ip: "2001:db8::1", ...ticket } },
  { operation: "actionunban", params: { name, port: "ssh", ip: "192.0.2.1", ...ticket } },
  { operation: "actionban", params: { name, port: "ssh", ip: "2001:db8::2", restored: "1", ...ticket } },
  { operation: "actionstop", params: { name, port: "ssh" } },
];

async function ours(sequence: ReferenceSequence): Promise<RenderedCommand[]> {
  const ran: RenderedCommand[] = [];
  const counts = new Map<number, number>();
  const engine = new ActionEngine({
    actionsDir: sequence.dir,
    logger: silent,
    hostname,
    now: () => now,
    run: async (command) => {
      ran.push(command);
      const script = typeof command === "string" ? command : command[0];
      let failed = false;
      (sequence.fail ?? []).forEach((rule, i) => {
        if (script.includes(rule.contains)) {
          counts.set(i, (counts.get(i) ?? 0) + 1);
          if (rule.times.includes(counts.get(i)!)) failed = true;
        }
      });
      return {
        exitCode: failed ? 1 : 0,
        signal: null,
        stdout: "",
        stderr: "",
        durationMs: 0,
        timedOut: false,
        aborted: false,
        stdoutTruncated: false,
        stderrTruncated: false,
      };
    },
  });
  for (const step of sequence.steps) {
    await engine.execute({ file: sequence.action, action: step.operation, params: step.params });
  }
  return ran;
}

const scenarios: Array<{ title: string; dir: string; action: string; fail: FailRules; unban?: boolean }> = [];
for (const [dir, action] of [
  [STOCK_ACTIONS_DIR, "iptables"],
  [STOCK_ACTIONS_DIR, "iptables-multiport"],
  [STOCK_ACTIONS_DIR, "iptables-ipset"],
  [STOCK_ACTIONS_DIR, "nftables"],
  [STOCK_ACTIONS_DIR, "firewallcmd-ipset"],
  [STOCK_ACTIONS_DIR, "dummy"],
  [STOCK_ACTIONS_DIR, "sendmail-whois-matches"],
  [STOCK_ACTIONS_DIR, "abuseipdb"],
  [FIXTURES, "cond"],
  [FIXTURES, "ondemand-off"],
  [FIXTURES, "families"],
  [FIXTURES, "tags"],
] as const) {
  scenarios.push({ title: `${action}: all succeed`, dir, action, fail: [] });
  scenarios.push({
    title: `${action}: first ban fails once`,
    dir,
    action,
    fail: [{ contains: "192.0.2.1", times: [1] }],
  });
  scenarios.push({
    title: `${action}: ban and check fail once`,
    dir,
    action,
    fail: [
      { contains: "192.0.2.2", times: [1] },
      { contains: "-C", times: [1] },
      { contains: "check", times: [1] },
    ],
  });
  scenarios.push({
    title: `${action}: a start fails once`,
    dir,
    action,
    fail: [
      { contains: "-N", times: [1] },
      { contains: "start", times: [1] },
    ],
  });
}

function firstDifference(a: readonly unknown[], b: readonly unknown[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) return i;
  }
  return -1;
}

describe("lifecycle against fail2ban's CommandAction", () => {
  beforeAll(() => assertFail2banInstalled());

  it("runs the same commands in the same order", async () => {
    const sequences: ReferenceSequence[] = scenarios.map((s) => ({
      dir: s.dir,
      action: s.action,
      steps: life("sshd"),
      fail: s.fail,
      hostname,
      now,
    }));
    const reference = referenceRender(sequences);
    const differences: string[] = [];
    for (const [i, sequence] of sequences.entries()) {
      const theirs = reference[i]!;
      if ("error" in theirs) throw new Error(`${scenarios[i]!.title}: fail2ban failed: ${theirs.error}`);
      const mine = await ours(sequence);
      // fail2ban hands an empty command to executeCmd ("Nothing to do"); we do not call run at all
      const executed = (theirs.expect as RenderedCommand[]).filter((c) => c !== null);
      const at = firstDifference(mine, executed);
      if (at !== -1) {
        differences.push(
          `${scenarios[i]!.title}: command ${at}\n ours     ${JSON.stringify(mine[at])}\n fail2ban ${JSON.stringify(executed[at])}`,
        );
      }
    }
    expect(differences).toEqual([]);
  });
});
