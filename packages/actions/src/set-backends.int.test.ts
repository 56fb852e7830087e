// The shipped set-backend actions (action.d/nftables-set.conf, ipset-set.conf) on real firewalls in a
// network namespace of the test's own: batches, CIDRs, IPv6, permanent bans, expiry by the kernel,
// the whole-set probe, a restart without actionstop, repeats, and per-ban results around a bad element.

import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { assertNetnsTools, TestNamespace } from "../test/netns.js";
import { assertFail2banInstalled, referenceRender } from "../test/reference.js";
import { ActionEngine, type ActionRequest } from "./engine.js";
import { ParamRefusedError } from "./errors.js";
import { loadAction } from "./load.js";
import { renderOperation } from "./render.js";
import { runCommand } from "./run.js";

const silent = { info() {}, warn() {}, error() {}, debug() {} };

interface Backend {
  file: string;
  /** Every element of the jail's set of `family`, as the kernel lists it (duplicates would show). */
  elements(ns: TestNamespace, family: 4 | 6): string[];
  /** How many firewall rules point at the jail's sets. */
  rules(ns: TestNamespace): number;
  /** A ban the firewall refuses while the rest of the batch goes in (with what it says), after `setup`. */
  badElement: { ip: string; stderr: RegExp; setup(ns: TestNamespace, engine: ActionEngine): Promise<void> };
}

const nftables: Backend = {
  file: "nftables-set",
  elements(ns, family) {
    const set = family === 4 ? "addr-set-sshd" : "addr6-set-sshd";
    const json = JSON.parse(ns.exec("nft", "-j", "list", "set", "inet", "f2b-table", set)) as {
      nftables: Array<{ set?: { elem?: unknown[] } }>;
    };
    const elems = json.nftables.find((e) => e.set)?.set?.elem ?? [];
    return elems.map((e) => {
      const value = (e as { elem?: { val: unknown } }).elem?.val ?? e;
      if (typeof value === "string") return value;
      const prefix = (value as { prefix: { addr: string; len: number } }).prefix;
      return `${prefix.addr}/${prefix.len}`;
    });
  },
  rules(ns) {
    const json = JSON.parse(ns.exec("nft", "-j", "list", "chain", "inet", "f2b-table", "f2b-sshd")) as {
      nftables: Array<{ rule?: unknown }>;
    };
    return json.nftables.filter((e) => e.rule).length;
  },
  // an interval set refuses a CIDR that overlaps an element it holds
  badElement: {
    ip: "192.0.2.0/24",
    stderr: /overlaps/,
    async setup(_ns, engine) {
      await engine.executeBatch([ban("nftables-set", "192.0.2.1")]);
    },
  },
};

const ipset: Backend = {
  file: "ipset-set",
  elements(ns, family) {
    const out = ns.exec("ipset", "save", family === 4 ? "f2b-sshd" : "f2b-sshd6");
    return out
      .split("\n")
      .filter((l) => l.startsWith("add "))
      .map((l) => l.split(" ")[2]!);
  },
  rules(ns) {
    const v4 = ns.exec("iptables", "-S", "INPUT").split("\n");
    const v6 = ns.exec("ip6tables", "-S", "INPUT").split("\n");
    return [...v4, ...v6].filter((l) => /--match-set f2b-sshd6? src/.test(l)).length;
  },
  // the IPv6 set deleted by hand (its rule first): its elements fail, the invariant check (IPv4) passes
  badElement: {
    ip: "2001:db8::99",
    stderr: /does not exist/,
    async setup(ns, engine) {
      await engine.executeBatch([ban("ipset-set", "192.0.2.1")]);
      ns.exec("ip6tables", "-D", "INPUT", "-m", "set", "--match-set", "f2b-sshd6", "src", "-j", "REJECT");
      ns.exec("ipset", "destroy", "f2b-sshd6");
    },
  },
};

function ban(file: string, ip: string, extra: Record<string, string> = {}): ActionRequest {
  return { file, action: "actionban", params: { name: "sshd", ip, bantime: "600", ...extra } };
}

function unban(file: string, ip: string): ActionRequest {
  return { file, action: "actionunban", params: { name: "sshd", ip } };
}

beforeAll(() => {
  assertNetnsTools();
});

describe.each([
  ["nftables", nftables],
  ["ipset", ipset],
])("%s set backend", (_label, backend) => {
  let ns: TestNamespace;
  let engine: ActionEngine;
  const { file } = backend;

  beforeEach(() => {
    ns = new TestNamespace();
    engine = new ActionEngine({ actionsDir: ns.actionsDir, logger: silent });
  });
  afterEach(() => {
    ns.destroy();
  });

  it("bans addresses, CIDRs and IPv6 in one transaction each, every ban its own outcome", async () => {
    const requests = [
      ban(file, "192.0.2.7"),
      ban(file, "198.51.100.0/24"),
      ban(file, "2001:db8::7"),
      ban(file, "2001:db8:1::/48", { bantime: "-1" }),
    ];
    const outcomes = await engine.executeBatch(requests);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true]);
    // actionstart, then one transaction for all four (both families read by the same command)
    const commands = new Set(outcomes.flatMap((o) => o.steps.map((s) => JSON.stringify(s.command))));
    expect(commands.size).toBe(2);
    expect(backend.elements(ns, 4).sort()).toEqual(["192.0.2.7", "198.51.100.0/24"]);
    expect(backend.elements(ns, 6).sort()).toEqual(["2001:db8:1::/48", "2001:db8::7"]);
    expect(backend.rules(ns)).toBe(2);
  });

  it("the kernel lifts a 2 s ban without the agent; a permanent one stays", async () => {
    const outcomes = await engine.executeBatch([
      ban(file, "192.0.2.8", { bantime: "2" }),
      ban(file, "192.0.2.9", { bantime: "-1" }),
    ]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(backend.elements(ns, 4)).toContain("192.0.2.8");
    // no more commands from here: only the kernel can remove the element
    const deadline = Date.now() + 15_000;
    while (backend.elements(ns, 4).includes("192.0.2.8") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(backend.elements(ns, 4)).toEqual(["192.0.2.9"]);
  });

  it("the probe lists the whole set once and says which held bans are in it", async () => {
    await engine.executeBatch([ban(file, "192.0.2.10"), ban(file, "2001:db8::10")]);
    const runs: string[] = [];
    const probing = new ActionEngine({
      actionsDir: ns.actionsDir,
      logger: silent,
      run: (command, options) => {
        runs.push(JSON.stringify(command));
        return runCommand(command, options);
      },
    });
    const held = [
      ban(file, "192.0.2.10"),
      ban(file, "192.0.2.11"),
      ban(file, "2001:db8::10"),
      ban(file, "2001:db8::11"),
      ...Array.from({ length: 50 }, (_, i) => ban(file, `203.0.113.${i}`)),
    ];
    const found = await probing.probeBatch(held);
    expect(found.slice(0, 4).map((f) => f.state)).toEqual(["present", "missing", "present", "missing"]);
    expect(found.slice(4).every((f) => f.state === "missing")).toBe(true);
    expect(runs).toHaveLength(2); // one listing per family, whatever the number of bans
  });

  it("a restart without actionstop (as after SIGKILL) starts again idempotently: one element per ban, one rule per family", async () => {
    const requests = [ban(file, "192.0.2.20"), ban(file, "2001:db8::20"), ban(file, "198.51.100.0/25")];
    expect((await engine.executeBatch(requests)).every((o) => o.ok)).toBe(true);
    for (let round = 0; round < 2; round++) {
      const restarted = new ActionEngine({ actionsDir: ns.actionsDir, logger: silent });
      const outcomes = await restarted.executeBatch(requests);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      expect(outcomes[0]!.steps[0]!.operation).toBe("actionstart");
    }
    expect(backend.elements(ns, 4).sort()).toEqual(["192.0.2.20", "198.51.100.0/25"]);
    expect(backend.elements(ns, 6)).toEqual(["2001:db8::20"]);
    expect(backend.rules(ns)).toBe(2);
  });

  it("repeats (in one batch, across batches, single path) leave exactly one element per ban", async () => {
    await engine.executeBatch([ban(file, "192.0.2.30"), ban(file, "192.0.2.30"), ban(file, "2001:db8::30")]);
    await engine.executeBatch([ban(file, "192.0.2.30", { bantime: "900" }), ban(file, "2001:db8::30")]);
    expect((await engine.execute(ban(file, "192.0.2.30"))).ok).toBe(true);
    expect(backend.elements(ns, 4)).toEqual(["192.0.2.30"]);
    expect(backend.elements(ns, 6)).toEqual(["2001:db8::30"]);
  });

  it("unbans present and absent elements in one batch without failing it", async () => {
    await engine.executeBatch([ban(file, "192.0.2.40"), ban(file, "2001:db8::40")]);
    const outcomes = await engine.executeBatch([
      unban(file, "192.0.2.40"),
      unban(file, "192.0.2.41"),
      unban(file, "2001:db8::40"),
      unban(file, "2001:db8::41"),
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true]);
    expect(backend.elements(ns, 4)).toEqual([]);
    expect(backend.elements(ns, 6)).toEqual([]);
    // the single path too
    expect((await engine.execute(unban(file, "192.0.2.42"))).ok).toBe(true);
  });

  it("one bad element fails alone: the others of the batch are in, each with its own outcome", async () => {
    await backend.badElement.setup(ns, engine);
    const outcomes = await engine.executeBatch([
      ban(file, "203.0.113.1"),
      ban(file, "203.0.113.2"),
      ban(file, backend.badElement.ip),
      ban(file, "203.0.113.3"),
      ban(file, "not-an-address"),
      ban(file, "203.0.113.4"),
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false, true, false, true]);
    expect(outcomes[2]!.stderr).toMatch(backend.badElement.stderr);
    expect(outcomes[2]!.ran).toBe(true);
    expect(outcomes[2]!.error).toBeUndefined();
    expect(outcomes[4]!.error).toBeInstanceOf(ParamRefusedError);
    expect(outcomes[4]!.ran).toBe(false);
    expect(backend.elements(ns, 4).sort()).toEqual([
      "192.0.2.1",
      "203.0.113.1",
      "203.0.113.2",
      "203.0.113.3",
      "203.0.113.4",
    ]);
  });

  it("refuses a batch line with anything but validated words, naming the param", async () => {
    // `name` may hold ':' and '@' by its grammar, but not in a set's name
    const outcomes = await engine.executeBatch([
      { file, action: "actionban", params: { name: "ssh:d", ip: "192.0.2.60" } },
      ban(file, "192.0.2.61"),
    ]);
    expect(outcomes[0]!.error).toBeInstanceOf(ParamRefusedError);
    expect((outcomes[0]!.error as ParamRefusedError).param).toBe("name");
    expect(outcomes[0]!.ran).toBe(false);
    expect(outcomes[1]!.ok).toBe(true);
  });

  it("actionban and actionunban as fail2ban renders them work one ban at a time", async () => {
    assertFail2banInstalled();
    expect((await engine.executeBatch([ban(file, "192.0.2.99")]))[0]!.ok).toBe(true); // started
    const now = Date.now() / 1000;
    const cases = [
      { operation: "actionban", params: { name: "sshd", ip: "192.0.2.70", bantime: "600" } },
      { operation: "actionban", params: { name: "sshd", ip: "2001:db8::70", bantime: "-1" } },
      { operation: "actionunban", params: { name: "sshd", ip: "192.0.2.99" } },
      { operation: "actionunban", params: { name: "sshd", ip: "192.0.2.98" } },
    ];
    const answers = referenceRender(cases.map((c) => ({ dir: ns.actionsDir, action: file, ...c, now })));
    const loaded = loadAction(ns.actionsDir, file);
    for (const [i, c] of cases.entries()) {
      const answer = answers[i]!;
      if (!("expect" in answer)) throw new Error(`fail2ban refused ${c.operation}: ${answer.error}`);
      const ours = renderOperation(loaded, c.operation as "actionban", c.params, {
        hostname: { fq: "h", short: "h" },
        now: () => now,
      });
      expect(ours).toEqual(answer.expect);
      const result = await runCommand(answer.expect as string, { timeoutMs: 10_000 });
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
    }
    expect(backend.elements(ns, 4)).toEqual(["192.0.2.70"]);
    expect(backend.elements(ns, 6)).toEqual(["2001:db8::70"]);
  });
});
