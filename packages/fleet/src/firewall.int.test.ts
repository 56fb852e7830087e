// Bans enforced on real firewalls: agents in network namespaces run the stock iptables-multiport and
// nftables actions, and an attacker's TCP connections to every host fail while a friend's still work.
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { brokerUrl } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet, probeBroker } from "./fleet.js";
import { netnsUnavailableReason, type ProbeResult, run, sweepStaleNetworks, TestNetwork } from "./netns.js";

const url = brokerUrl();
const STOCK_ACTIONS = "/etc/fail2ban/action.d";
const HOSTS = ["h1", "h2"] as const;
/** The banned service; BYSTANDER_PORT is outside the ban's `port` and must stay open even to the attacker. */
const PORT = 2222;
const BYSTANDER_PORT = 2223;

// Root is needed for namespaces and firewalls. In CI a missing privilege is a failure, never a skip.
const unavailable = await netnsUnavailableReason(["ip", "iptables", "nft"]);
const skip = unavailable !== undefined && !process.env["CI"];

let network: TestNetwork | undefined;
let fleet: Fleet | undefined;

function net(): TestNetwork {
  if (network === undefined) throw new Error("the test network was not built (see beforeAll's error)");
  return network;
}

function agentOf(host: string): string {
  return `agent${HOSTS.indexOf(host as (typeof HOSTS)[number]) + 1}`;
}

const targets = (port: number) => HOSTS.map((h) => `${net().node(h).address}:${port}`);
const greetings = (port: number) =>
  HOSTS.map((h) => ({ target: `${net().node(h).address}:${port}`, greeting: `${h}:${port}` }));

/** Connects from `from` to the service on every host; results in HOSTS order. */
function probe(from: string, port = PORT): Promise<ProbeResult[]> {
  return net().probe(from, targets(port));
}

async function expectOpenToAll(): Promise<void> {
  expect(await probe("attacker")).toEqual(greetings(PORT));
  expect(await probe("friend")).toEqual(greetings(PORT));
}

describe.skipIf(skip)("bans enforced on real firewalls (network namespaces)", () => {
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`firewall end-to-end test cannot run: ${unavailable}`);
    try {
      await probeBroker(url);
    } catch (error) {
      throw new Error(
        `RabbitMQ is not answering at ${new URL(url).host} (${(error as Error).message}): start it with \`rabbitmq-server -detached\``,
      );
    }
    await sweepStaleNetworks();
    network = await TestNetwork.create({ nodes: [...HOSTS, "attacker", "friend"] });
    fleet = await Fleet.create({ agents: HOSTS.length, brokerUrl: url, rounds: 1000, label: "fw" });
    await network.relayBroker(url, HOSTS);
    for (const host of HOSTS) {
      // The stock action files, as an operator would install them in the agent's actions_dir.
      await cp(STOCK_ACTIONS, join(fleet.agentDir(agentOf(host)), "actions"), { recursive: true });
      await network.listen(host, PORT, `${host}:${PORT}`);
      await network.listen(host, BYSTANDER_PORT, `${host}:${BYSTANDER_PORT}`);
    }
    await fleet.startServer();
    for (const host of HOSTS) await fleet.startAgent(agentOf(host), { prefix: network.prefix(host) });
  }, 90_000);

  afterAll(async () => {
    // Agents first (they run actionstop inside their namespace), then the namespaces with what is left.
    try {
      await fleet?.close();
    } finally {
      const id = network?.id;
      await network?.destroy();
      if (network !== undefined)
        expect(await network.remainingNamespaces(), `namespaces of ${id}`).toEqual([]);
    }
  }, 60_000);

  const cases = [
    {
      action: "iptables-multiport",
      jail: "sshd",
      /** The ban as the host's own firewall holds it. */
      evidence: (_host: string, ip: string) => ({
        argv: ["iptables", "-w", "-S", "f2b-sshd"],
        line: `-A f2b-sshd -s ${ip}/32 -j REJECT --reject-with icmp-port-unreachable`,
      }),
    },
    {
      action: "nftables",
      jail: "web",
      evidence: (_host: string, ip: string) => ({
        argv: ["nft", "list", "set", "inet", "f2b-table", "addr-set-web"],
        line: `elements = { ${ip} }`,
      }),
    },
  ];

  for (const { action, jail, evidence } of cases) {
    it(`${action}: net2banctl ban blocks the attacker on every host, the friend still connects, unban restores`, async () => {
      const f = fleet!;
      const attacker = net().node("attacker").address;
      await expectOpenToAll();

      const ban = await f.ctl(["ban", attacker, `port=${PORT}`, "--action", action, "--name", jail]);
      expect(ban.stderr).toBe("");
      expect(ban.code).toBe(0);
      for (const host of HOSTS) {
        await f.waitForLog(agentOf(host), (l) => l.msg === `IP ${attacker} banned` && l["file"] === action);
        const { argv, line } = evidence(host, attacker);
        expect((await net().exec(host, argv)).split("\n").map((l) => l.trim())).toContain(line);
      }
      const blocked = await probe("attacker");
      expect(blocked.map((r) => r.error)).toEqual(HOSTS.map(() => "ECONNREFUSED"));
      expect(await probe("friend")).toEqual(greetings(PORT));
      // The ban covers its port only, and it lives in the hosts' firewalls, not in this machine's.
      expect(await probe("attacker", BYSTANDER_PORT)).toEqual(greetings(BYSTANDER_PORT));
      const rootRules = await run("nft", ["list", "ruleset"]);
      expect(rootRules).not.toContain(attacker);

      const unban = await f.ctl(["unban", attacker, `port=${PORT}`, "--action", action, "--name", jail]);
      expect(unban.code).toBe(0);
      for (const host of HOSTS) {
        await f.waitForLog(agentOf(host), (l) => l.msg === `IP ${attacker} unbanned` && l["file"] === action);
        const { argv, line } = evidence(host, attacker);
        expect((await net().exec(host, argv)).split("\n").map((l) => l.trim())).not.toContain(line);
      }
      await expectOpenToAll();
    }, 60_000);
  }

  it("a stopped agent runs actionstop: no net2ban chain, set or table is left on any host", async () => {
    const f = fleet!;
    for (const host of HOSTS) {
      expect(await net().exec(host, ["iptables", "-w", "-S"])).toContain("-N f2b-sshd");
      expect(await net().exec(host, ["nft", "list", "tables"])).toContain("table inet f2b-table");
    }
    for (const host of HOSTS) expect(await f.stop(agentOf(host))).toBe(0);
    for (const host of HOSTS) {
      expect(await net().exec(host, ["iptables", "-w", "-S"])).not.toContain("f2b-");
      expect(await net().exec(host, ["nft", "list", "tables"])).not.toContain("f2b-table");
    }
  }, 60_000);
});
