// A message param stays data (security review, finding 1), end to end on the real broker with fail2ban
// 1.0.2's own action files, agents in network namespaces (real iptables): the three attacks of the review
// (a param replacing the program tag, hostsdeny writing a new action file, a plain-word verdict that drops
// every packet) are refused by net2banctl (exit 2, one line), by the server (sealed with the [server] key
// straight into the input queue: one line, nothing forwarded) and by each agent (sealed with its key
// straight into its queue, v2 and v1, exec and the ledger's apply: dead-lettered, one line). Canary files
// prove that nothing ran and nothing was written. An option the operator allows keeps working.
import { randomUUID } from "node:crypto";
import { cp, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createExecRequest, createTrackedBanRequest } from "@net2ban/protocol";
import { brokerUrl, requireBroker } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "./fleet.js";
import { linesAfter, publishRaw, sealForAgent, sealForServer } from "./intruder.js";
import { netnsUnavailableReason, sweepStaleNetworks, TestNetwork } from "./netns.js";

const url = brokerUrl();
const unavailable = await netnsUnavailableReason(["ip", "iptables"]);
// Agents run the stock iptables actions: never outside a namespace. CI has root and iptables.
const skip = unavailable !== undefined && !process.env["CI"];

let network: TestNetwork;
let fleet: Fleet;
let canaryDir = "";
const AGENTS = [
  { name: "agent1", host: "h1", protocol: 2 },
  { name: "agent2", host: "h2", protocol: 1 },
] as const;

const canary = (label: string) => join(canaryDir, label);
const actionsDir = (agent: string) => join(fleet.agentDir(agent), "actions");

/** The review's three attacks as exec params of stock action files; `label` names their canary. */
function attacks(label: string): Array<{ file: string; param: string; params: Record<string, string> }> {
  return [
    {
      // actionban becomes `eval -I f2b-default 1 -s 192.0.2.1 -j "${f2bV_O_blocktype}"`: eval re-parses
      // the value (the review used returntype in actionstart the same way)
      file: "iptables-multiport",
      param: "iptables",
      params: { ip: "192.0.2.1", iptables: "eval", blocktype: `x; touch ${canary(`${label}-eval`)}` },
    },
    {
      // hostsdeny's actionban appends daemon_list to <file>: a new action file a later exec would run
      file: "hostsdeny",
      param: "file",
      params: {
        ip: "192.0.2.2",
        file: join(actionsDir("agent1"), `evil${label}.conf`),
        daemon_list: `[Definition]\nactionban = touch ${canary(`${label}-evil`)}\n#`,
      },
    },
    {
      // a plain word: the jail's chain would drop every packet to its ports, whatever the ip
      file: "iptables-multiport",
      param: "returntype",
      params: { ip: "192.0.2.3", name: "sshd", port: "2222", returntype: "DROP" },
    },
  ];
}

/** Every rule of host `host`'s iptables (-S), for "nothing was added". */
const rules = (host: string) => network.exec(host, ["iptables", "-w", "-S"]);

/** Nothing ran, nothing was written: no canary, no new action file, no f2b chain on any host. */
async function expectNothingHappened(): Promise<void> {
  expect(await readdir(canaryDir)).toEqual([]);
  for (const { name, host } of AGENTS) {
    expect((await readdir(actionsDir(name))).filter((f) => f.startsWith("evil"))).toEqual([]);
    expect(await rules(host)).not.toMatch(/f2b-/);
  }
}

describe.skipIf(skip)("a message param never becomes code (stock fail2ban 1.0.2 actions, namespaces)", () => {
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`param policy test cannot run: ${unavailable}`);
    await requireBroker(url);
    await sweepStaleNetworks();
    network = await TestNetwork.create({ nodes: AGENTS.map((a) => a.host) });
    fleet = await Fleet.create({
      agents: AGENTS.length,
      protocols: AGENTS.map((a) => a.protocol),
      brokerUrl: url,
      rounds: 1000,
      label: "policy",
      // agent1's operator allows blocktype, and (unwisely) the program and file tags: the positions check
      // still refuses those two. agent2 allows nothing beyond the defaults. The server passes blocktype.
      sections: {
        server: { allow_params: "iptables-multiport:blocktype" },
        agent1: {
          allow_params:
            "iptables-multiport:blocktype, iptables-multiport:iptables, hostsdeny:file, hostsdeny:daemon_list",
        },
      },
    });
    canaryDir = join(fleet.dir, "canary");
    await mkdir(canaryDir);
    await network.relayBroker(
      url,
      AGENTS.map((a) => a.host),
    );
    for (const { name } of AGENTS) await cp("/etc/fail2ban/action.d", actionsDir(name), { recursive: true });
    await fleet.startServer();
    for (const { name, host } of AGENTS) await fleet.startAgent(name, { prefix: network.prefix(host) });
  }, 120_000);

  afterAll(async () => {
    try {
      await fleet?.close();
    } finally {
      await network?.destroy();
    }
  }, 60_000);

  it("net2banctl refuses each attack: exit 2, one line naming the param, nothing sent", async () => {
    const before = fleet.process("server").lines.length;
    for (const attack of attacks("ctl")) {
      const argv = [
        "exec",
        attack.file,
        "actionban",
        ...Object.entries(attack.params).map(([k, v]) => `${k}=${v}`),
      ];
      const result = await fleet.ctl(argv);
      expect({ code: result.code, out: result.stdout }).toEqual({ code: 2, out: "" });
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      // the first param outside the [server] policy: iptables/returntype, file
      expect(lines[0]).toMatch(
        /^net2banctl: actionban: param "(iptables|returntype|file)" refused: not an option a message may set/,
      );
    }
    // the ledger's ban takes the same policy
    const ban = await fleet.ctl(["ban", "192.0.2.4", "returntype=DROP", "--action", "iptables-multiport"]);
    expect(ban.code).toBe(2);
    expect(ban.stderr).toMatch(/^net2banctl: actionban: param "returntype" refused/);
    // a marker exec is the next thing the server forwards
    expect((await fleet.ctl(["exec", "net2ban-demo", "actionban", "ip=192.0.2.99"])).code).toBe(0);
    await linesAfter(fleet, "server", before, (l) => l.msg.startsWith("Forwarding"), 1);
    expect(
      fleet
        .process("server")
        .lines.slice(before)
        .filter((l) => l.msg.startsWith("Forwarding")),
    ).toHaveLength(1);
    await expectNothingHappened();
  }, 60_000);

  it("the server drops each attack sealed with the [server] key: one line naming the param, nothing forwarded", async () => {
    const before = fleet.process("server").lines.length;
    const requests = attacks("srv").map((a) =>
      createExecRequest({ file: a.file, action: "actionban", params: a.params, sender: "intruder" }),
    );
    const ban = createTrackedBanRequest({
      ip: "192.0.2.5",
      action: "iptables-multiport",
      name: "sshd",
      params: { iptables: `touch ${canary("srv-ledger")}` },
      sender: "intruder",
    });
    await publishRaw(
      url,
      fleet.inputQueue,
      await Promise.all([...requests, ban].map((m) => sealForServer(fleet, m))),
    );
    const refused = await linesAfter(fleet, "server", before, (l) => l.msg.includes("refused"), 4);
    expect(refused.map((l) => l.msg)).toEqual([
      expect.stringMatching(
        /^param "iptables" refused: not an option a message may set for iptables-multiport .*; request dropped$/,
      ),
      expect.stringMatching(
        /^param "file" refused: not an option a message may set for hostsdeny .*; request dropped$/,
      ),
      expect.stringMatching(/^param "returntype" refused: .*; request dropped$/),
      expect.stringMatching(/^param "iptables" refused: .*; request dropped$/),
    ]);
    expect(
      fleet
        .process("server")
        .lines.slice(before)
        .filter((l) => l.msg.startsWith("Forwarding")),
    ).toEqual([]);
    await expectNothingHappened();
  }, 60_000);

  it("each agent refuses each attack injected into its own queue (exec v2 and v1, and apply): dead-lettered, one line", async () => {
    for (const { name, protocol } of AGENTS) {
      const from = fleet.process(name).lines.length;
      const bodies = await Promise.all(
        attacks(name).map((a) =>
          sealForAgent(
            fleet,
            name,
            createExecRequest({ file: a.file, action: "actionban", params: a.params, sender: "intruder" }),
          ),
        ),
      );
      if (protocol === 2) {
        // the ledger's path: an apply (what restore, catch-up and drift repair also run)
        bodies.push(
          await sealForAgent(fleet, name, {
            cmd: "apply",
            op: "ban",
            file: "iptables-multiport",
            name: "sshd",
            ip: "192.0.2.6",
            params: { iptables: `touch ${canary(`${name}-apply`)}` },
            expiresAt: null,
            timestamp: Date.now() / 1000,
            id: randomUUID(),
            sender: "net2ban-server",
          }),
        );
      }
      await publishRaw(url, `${fleet.prefix}_${name}`, bodies);
      const errors = await linesAfter(
        fleet,
        name,
        from,
        (l) => l.level >= 50 && l.msg.includes("refused"),
        bodies.length,
      );
      const messages = errors.map((l) => l.msg);
      if (name === "agent1") {
        // allowed by its operator, refused by where the action puts them
        const where = "a message may not choose a program or a file";
        expect(messages).toEqual([
          `param "iptables" refused: iptables-multiport uses it as the command to run in actionstart: ${where}`,
          `param "file" refused: hostsdeny uses it as the target of a redirection (a file) in actionban: ${where}`,
          expect.stringMatching(
            /^param "returntype" refused: not an option a message may set for iptables-multiport \(allow_params of \[global\] and \[agent1\]/,
          ),
          `iptables-multiport/actionban refused: param "iptables" refused: iptables-multiport uses it as the command to run in actionstart: ${where}`,
        ]);
      } else {
        expect(messages).toEqual([
          expect.stringMatching(
            /^param "iptables" refused: not an option a message may set for iptables-multiport \(allow_params of \[global\] and \[agent2\]/,
          ),
          expect.stringMatching(/^param "file" refused: not an option a message may set for hostsdeny/),
          expect.stringMatching(
            /^param "returntype" refused: not an option a message may set for iptables-multiport/,
          ),
        ]);
      }
      // the hostsdeny attack's second step: its file was never written, so there is nothing to run
      const evil = await sealForAgent(
        fleet,
        name,
        createExecRequest({
          file: `evil${name}`,
          action: "actionban",
          params: { ip: "192.0.2.7" },
          sender: "intruder",
        }),
      );
      const before = fleet.process(name).lines.length;
      await publishRaw(url, `${fleet.prefix}_${name}`, [evil]);
      await linesAfter(
        fleet,
        name,
        before,
        (l) => l.level >= 50 && l.msg.includes(`"evil${name}" not found`),
        1,
      );
    }
    expect(await readdir(canaryDir)).toEqual([]);
    for (const { name } of AGENTS) {
      expect((await readdir(actionsDir(name))).filter((f) => f.startsWith("evil"))).toEqual([]);
    }
  }, 90_000);

  it("an option the operator allows keeps working where allowed: blocktype=DROP bans on agent1, agent2 refuses it", async () => {
    const from = fleet.process("agent2").lines.length;
    const result = await fleet.ctl([
      "exec",
      "iptables-multiport",
      "actionban",
      "ip=192.0.2.8",
      "name=sshd",
      "port=2222",
      "blocktype=DROP",
    ]);
    expect(result.code, result.stderr).toBe(0);
    await fleet.waitForLog("agent1", (l) => l.msg === "IP 192.0.2.8 banned");
    expect(await rules("h1")).toContain("-A f2b-sshd -s 192.0.2.8/32 -j DROP");
    const [line] = await linesAfter(fleet, "agent2", from, (l) => l.level >= 50, 1);
    expect(line?.msg).toMatch(
      /^param "blocktype" refused: not an option a message may set for iptables-multiport/,
    );
    expect(await rules("h2")).not.toMatch(/f2b-/);
    expect(await readdir(canaryDir)).toEqual([]);
  }, 60_000);
});
