// Attack-scale enforcement on one agent: its ActionEngine applying 10,000 bans with the nftables and the
// ipset set backends beside the firewall's own floor (one `nft -f -` / `ipset restore` of the same
// elements), and one shell per ban (sampled); stock iptables-multiport with the multi-command shell
// against one shell per ban. Everything runs in a network namespace the suite makes and deletes.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionEngine, type ActionRequest } from "@net2ban/actions";
import type { BenchContext } from "./context.js";
import { sinkLogger } from "./logger.js";
import { addresses, sh, shippedActionsDir, timed } from "./set-tools.js";
import { formatNumber, median } from "./stats.js";

export const SETS_TARGET_RATIO = 1.5;
export const SETS_TARGET_SPEEDUP = 20;
const STOCK_ACTIONS_DIR = "/etc/fail2ban/action.d";

class BenchNamespace {
  readonly name = `n2bbench-${process.pid}-${randomBytes(3).toString("hex")}`;
  readonly actionsDir = mkdtempSync(join(tmpdir(), "net2ban-bench-sets-"));

  constructor() {
    sh("ip", ["netns", "add", this.name]);
    cpSync(shippedActionsDir(), this.actionsDir, { recursive: true });
    for (const name of ["iptables-multiport.conf", "iptables.conf"]) {
      cpSync(join(STOCK_ACTIONS_DIR, name), join(this.actionsDir, name));
    }
    const exec = `ip netns exec ${this.name}`;
    writeFileSync(join(this.actionsDir, "nftables-set.local"), `[Init]\nnftables = ${exec} nft\n`);
    writeFileSync(
      join(this.actionsDir, "ipset-set.local"),
      `[Init]\nipset = ${exec} ipset\niptables = ${exec} iptables\nip6tables = ${exec} ip6tables\n`,
    );
    writeFileSync(
      join(this.actionsDir, "iptables.local"),
      `[Init]\niptables = ${exec} iptables <lockingopt>\n`,
    );
  }

  exec(program: string, ...args: string[]): string {
    return sh("ip", ["netns", "exec", this.name, program, ...args]);
  }

  destroy(): void {
    spawnSync("ip", ["netns", "del", this.name]);
    rmSync(this.actionsDir, { recursive: true, force: true });
  }
}

function bans(file: string, list: readonly string[]): ActionRequest[] {
  return list.map((ip) => ({ file, action: "actionban", params: { name: "bench", ip, bantime: "3600" } }));
}

async function engineMs(engine: ActionEngine, requests: ActionRequest[]): Promise<number> {
  const started = performance.now();
  const outcomes = await engine.executeBatch(requests);
  const elapsed = performance.now() - started;
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0)
    throw new Error(`${failed.length} of ${requests.length} bans failed: ${failed[0]!.stderr}`);
  return elapsed;
}

async function oneShellPerBanMs(engine: ActionEngine, requests: ActionRequest[]): Promise<number> {
  const started = performance.now();
  for (const request of requests) {
    const outcome = await engine.execute(request);
    if (!outcome.ok) throw new Error(`one by one: ${request.params.ip} failed: ${outcome.stderr}`);
  }
  return performance.now() - started;
}

interface SetCase {
  file: string;
  label: string;
  floorWhat: string;
  floorArgs: string[];
  floorLines(list: readonly string[]): string;
  flush(ns: BenchNamespace): void;
  count(ns: BenchNamespace): number;
}

const CASES: SetCase[] = [
  {
    file: "nftables-set",
    label: "nftables",
    floorWhat: "`nft -f -` of the same elements",
    floorArgs: ["nft", "-f", "-"],
    floorLines: (list) =>
      list.map((ip) => `add element inet f2b-table addr-set-bench { ${ip} timeout 3600s }\n`).join(""),
    flush: (ns) => ns.exec("nft", "flush", "set", "inet", "f2b-table", "addr-set-bench"),
    count: (ns) =>
      (
        JSON.parse(ns.exec("nft", "-j", "list", "set", "inet", "f2b-table", "addr-set-bench")) as {
          nftables: Array<{ set?: { elem?: unknown[] } }>;
        }
      ).nftables.find((e) => e.set)?.set?.elem?.length ?? 0,
  },
  {
    file: "ipset-set",
    label: "ipset",
    floorWhat: "`ipset restore -exist` of the same elements",
    floorArgs: ["ipset", "restore", "-exist"],
    floorLines: (list) => list.map((ip) => `add f2b-bench ${ip} timeout 3600\n`).join(""),
    flush: (ns) => ns.exec("ipset", "flush", "f2b-bench"),
    count: (ns) =>
      ns
        .exec("ipset", "save", "f2b-bench")
        .split("\n")
        .filter((l) => l.startsWith("add ")).length,
  },
];

export async function benchSets(ctx: BenchContext): Promise<void> {
  const missing = ["ip", "nft", "ipset", "iptables"].filter(
    (tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0,
  );
  if (process.getuid?.() !== 0) throw new Error("the sets suite needs root (it makes a network namespace)");
  if (missing.length > 0)
    throw new Error(`the sets suite needs ${missing.join(", ")} (run scripts/setup-host.sh)`);
  const ns = new BenchNamespace();
  try {
    const logger = sinkLogger({ level: "warn" });
    const engine = new ActionEngine({ actionsDir: ns.actionsDir, logger });
    const count = 10_000;
    const rounds = ctx.pick(2, 5);
    const sample = ctx.pick(100, 300);
    const list = addresses(count);
    for (const set of CASES) {
      // the jail started (its actionstart is part of an agent's first ban, not of each burst)
      await engineMs(engine, bans(set.file, ["192.0.2.1"]));
      const engineRuns: number[] = [];
      const floorRuns: number[] = [];
      // an agent is a long-running process: one round first, not counted, so that the JIT has run
      set.flush(ns);
      await engineMs(engine, bans(set.file, list));
      for (let round = 0; round < rounds; round++) {
        set.flush(ns);
        engineRuns.push(await engineMs(engine, bans(set.file, list)));
        if (set.count(ns) !== count)
          throw new Error(`${set.label}: ${set.count(ns)} elements, expected ${count}`);
        set.flush(ns);
        floorRuns.push(await timed("ip", ["netns", "exec", ns.name, ...set.floorArgs], set.floorLines(list)));
        if (set.count(ns) !== count) throw new Error(`${set.label} floor: ${set.count(ns)} elements`);
      }
      set.flush(ns);
      const perBan = await oneShellPerBanMs(engine, bans(set.file, list.slice(0, sample)));
      const perBanTotal = (perBan / sample) * count;
      const value = median(engineRuns);
      const floor = median(floorRuns);
      const ratio = value / floor;
      const speedup = perBanTotal / value;
      const withSpeedup = set.label === "nftables";
      ctx.recorder.figure({
        id: `sets.${set.label}`,
        group: "sets",
        what: `one agent's engine applies ${formatNumber(count)} bans with the ${set.label} set backend (executeBatch)`,
        value: value / 1000,
        unit: "s",
        floor: { what: set.floorWhat, value: floor / 1000, unit: "s" },
        ratio: { value: ratio, text: `${ratio.toFixed(2)}x the floor` },
        target: {
          text: withSpeedup
            ? `<= ${SETS_TARGET_RATIO}x, >= ${SETS_TARGET_SPEEDUP}x faster than one shell per ban`
            : `<= ${SETS_TARGET_RATIO}x`,
          met: ratio <= SETS_TARGET_RATIO && (!withSpeedup || speedup >= SETS_TARGET_SPEEDUP),
        },
        note: `median of ${rounds} rounds after one not counted, alternating with the floor; one shell per ban (execute(), the action's own actionban): ${formatNumber(perBan / sample)} ms per ban, measured on ${sample} bans and extrapolated to ${formatNumber(perBanTotal / 1000)} s for ${formatNumber(count)}, ${formatNumber(speedup)}x the batch`,
      });
      ctx.progress(
        `${set.label}: batch ${formatNumber(value)} ms, floor ${formatNumber(floor)} ms (${ratio.toFixed(2)}x), one shell per ban ~${formatNumber(perBanTotal / 1000)} s (${sample} sampled)`,
      );
    }

    // stock iptables-multiport: the multi-command shell against one shell per ban, same bans
    const stock = ctx.pick(300, 1000);
    const stockBans = (from: number): ActionRequest[] =>
      addresses(from + stock)
        .slice(from)
        .map((ip) => ({
          file: "iptables-multiport",
          action: "actionban",
          params: { name: "bench", port: "ssh", ip },
        }));
    await engineMs(engine, stockBans(50_000).slice(0, 1));
    // alternating quarters, so that a change of the machine's load falls on both ways alike
    let batched = 0;
    let single = 0;
    const quarter = stock / 4;
    for (let round = 0; round < 4; round++) {
      const slice = stockBans(0).slice(round * quarter, (round + 1) * quarter);
      ns.exec("iptables", "-F", "f2b-bench");
      batched += await engineMs(engine, slice);
      ns.exec("iptables", "-F", "f2b-bench");
      single += await oneShellPerBanMs(engine, slice);
    }
    ctx.recorder.figure({
      id: "sets.stock",
      group: "sets",
      what: `stock iptables-multiport, ${formatNumber(stock)} bans: executeBatch (several actionbans to a shell)`,
      value: batched / 1000,
      unit: "s",
      floor: { what: "one shell per ban (execute())", value: single / 1000, unit: "s" },
      ratio: { value: batched / single, text: `${(single / batched).toFixed(2)}x faster` },
      target: { text: "reported", met: true },
      note: `four alternating rounds of ${formatNumber(quarter)} bans each way; per ban: ${formatNumber(batched / stock)} ms batched, ${formatNumber(single / stock)} ms one shell each; most of what is left is iptables itself (one process per rule, the xtables lock)`,
    });
    ctx.progress(`stock: batched ${formatNumber(batched)} ms, one shell per ban ${formatNumber(single)} ms`);
    await engine.stopAll();
  } finally {
    ns.destroy();
  }
}
