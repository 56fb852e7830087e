// fail2ban end to end: a private fail2ban-server reads a log of failed sshd logins and bans through
// configs/fail2ban/action.d/net2ban.conf; net2banctl, the server and agents in network namespaces
// (real iptables-multiport) carry the ban to every host, fail2ban's unban lifts it, and its stop leaves the fleet's bans in place.
import { type ChildProcess, spawn } from "node:child_process";
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { brokerUrl } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binPath, Fleet, probeBroker } from "./fleet.js";
import { netnsUnavailableReason, run, runQuiet, sweepStaleNetworks, TestNetwork } from "./netns.js";

const url = brokerUrl();
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const SHIPPED = join(REPO, "configs/fail2ban");
const FAIL2BAN = "/etc/fail2ban";
const HOSTS = ["h1", "h2"] as const;
/** A TEST-NET-1 address: the failed logins come from it. */
const OFFENDER = "192.0.2.7";
/** A jail of this test next to the shipped sshd sample: it records what the remote action receives. */
const RECORD_JAIL = "n2brecord";

const unavailable = await netnsUnavailableReason(["ip", "iptables", "fail2ban-server", "fail2ban-client"]);
const skip = unavailable !== undefined && !process.env["CI"];

let network: TestNetwork | undefined;
let fleet: Fleet | undefined;
let dir: string | undefined;
let fail2ban: ChildProcess | undefined;
let fail2banExit: Promise<number | null> | undefined;

const agentOf = (host: string) => `agent${HOSTS.indexOf(host as (typeof HOSTS)[number]) + 1}`;
const socketPath = () => join(dir!, "f2b.sock");
const authLog = () => join(dir!, "auth.log");

function ctlBin(): string {
  return binPath("@net2ban/ctl", "net2banctl");
}

/** Runs fail2ban-client against the private instance's socket; throws with its output on failure. */
function f2b(...args: string[]): Promise<string> {
  return run("fail2ban-client", ["-s", socketPath(), ...args]);
}

/** The recording action of RECORD_JAIL: one line per ban/unban with every value the jail sent. */
function recordAction(banLog: string): string {
  return [
    "[Definition]",
    "actionban = echo ban <ip> name=<name> port=<port> protocol=<protocol> chain=<chain> bantime=<bantime> >> <banlog>",
    "actionunban = echo unban <ip> name=<name> >> <banlog>",
    "[Init]",
    `banlog = ${banLog}`,
    "chain = recorder-default",
    "",
  ].join("\n");
}

/** A syslog line of sshd as Debian writes it, stamped now in local time (fail2ban reads it so). */
function failedLogin(ip: string, n: number): string {
  const now = new Date();
  const month = now.toLocaleString("en-US", { month: "short" });
  const pad = (v: number) => String(v).padStart(2, "0");
  const stamp = `${month} ${String(now.getDate()).padStart(2, " ")} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
  return `${stamp} bastion sshd[${4100 + n}]: Failed password for invalid user admin from ${ip} port ${40000 + n} ssh2\n`;
}

/**
 * A fail2ban config dir of its own: the stock jail.conf, paths and filters; as actions only the shipped
 * net2ban.conf (plus a .local pointing it at this fleet), so no jail can touch this machine's firewall;
 * the shipped sample jail as it is, and the test's overrides in a later jail.d file.
 */
async function writeFail2banConfig(conf: string, serverConfig: string): Promise<void> {
  await mkdir(join(conf, "action.d"), { recursive: true });
  await mkdir(join(conf, "jail.d"), { recursive: true });
  await cp(join(FAIL2BAN, "filter.d"), join(conf, "filter.d"), { recursive: true });
  for (const file of ["jail.conf", "paths-common.conf", "paths-debian.conf"]) {
    await cp(join(FAIL2BAN, file), join(conf, file));
  }
  await writeFile(
    join(conf, "fail2ban.conf"),
    [
      "[Definition]",
      "loglevel = INFO",
      `logtarget = ${join(dir!, "fail2ban.log")}`,
      "syslogsocket = auto",
      `socket = ${socketPath()}`,
      `pidfile = ${join(dir!, "f2b.pid")}`,
      "dbfile = :memory:",
      "dbpurgeage = 1d",
      "allowipv6 = auto",
      "",
    ].join("\n"),
  );
  await cp(join(SHIPPED, "action.d/net2ban.conf"), join(conf, "action.d/net2ban.conf"));
  await writeFile(
    join(conf, "action.d/net2ban.local"),
    ["[Init]", `net2banctl = ${process.execPath} ${ctlBin()}`, `config = ${serverConfig}`, ""].join("\n"),
  );
  await cp(join(SHIPPED, "jail.d/net2ban-sshd.local"), join(conf, "jail.d/net2ban-sshd.local"));
  await writeFile(
    join(conf, "jail.d/zz-net2ban-test.local"),
    [
      "[sshd]",
      `logpath = ${authLog()}`,
      "backend = polling",
      "maxretry = 2",
      "findtime = 10m",
      "bantime = 1h",
      "",
      `[${RECORD_JAIL}]`,
      "enabled = true",
      "filter = sshd",
      `logpath = ${authLog()}`,
      "backend = polling",
      "maxretry = 2",
      "findtime = 10m",
      "bantime = 2h",
      "port = http,https",
      "chain = n2b-custom",
      "banaction = net2ban[action=net2ban-record]",
      "",
    ].join("\n"),
  );
}

async function stopFail2ban(): Promise<number | null> {
  if (fail2ban === undefined || fail2banExit === undefined) return null;
  if (fail2ban.exitCode === null && fail2ban.signalCode === null) {
    const stopped = await runQuiet("fail2ban-client", ["-s", socketPath(), "stop"], 30_000);
    if (!stopped.ok) fail2ban.kill("SIGTERM");
    const timer = setTimeout(() => fail2ban?.kill("SIGKILL"), 30_000);
    await fail2banExit;
    clearTimeout(timer);
  }
  return fail2banExit;
}

describe.skipIf(skip)("fail2ban bans through net2ban.conf (private fail2ban-server)", () => {
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`fail2ban end-to-end test cannot run: ${unavailable}`);
    try {
      await probeBroker(url);
    } catch (error) {
      throw new Error(
        `RabbitMQ is not answering at ${new URL(url).host} (${(error as Error).message}): start it with \`rabbitmq-server -detached\``,
      );
    }
    await sweepStaleNetworks();
    dir = await mkdtemp(join(tmpdir(), "n2b-f2b-"));
    network = await TestNetwork.create({ nodes: [...HOSTS] });
    fleet = await Fleet.create({ agents: HOSTS.length, brokerUrl: url, rounds: 1000, label: "f2b" });
    await network.relayBroker(url, HOSTS);
    for (const host of HOSTS) {
      const actions = join(fleet.agentDir(agentOf(host)), "actions");
      await cp(join(FAIL2BAN, "action.d"), actions, { recursive: true });
      await writeFile(join(actions, "net2ban-record.conf"), recordAction(fleet.banLog(agentOf(host))));
    }
    await fleet.startServer();
    for (const host of HOSTS) await fleet.startAgent(agentOf(host), { prefix: network.prefix(host) });

    const conf = join(dir, "conf");
    await writeFail2banConfig(conf, fleet.serverConfigPath);
    await writeFile(authLog(), "");
    const child = spawn("fail2ban-client", ["-c", conf, "-x", "-f", "start"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    fail2ban = child;
    let output = "";
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (d: Buffer) => {
        output += d.toString();
      });
    }
    fail2banExit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await runQuiet("fail2ban-client", ["-s", socketPath(), "status"]);
      if (status.ok && status.stdout.includes(RECORD_JAIL) && status.stdout.includes("sshd")) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`fail2ban did not start its jails: ${output}\n${status.stdout}${status.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 120_000);

  afterAll(async () => {
    try {
      await stopFail2ban();
    } finally {
      try {
        await fleet?.close();
      } finally {
        await network?.destroy();
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      }
    }
  }, 90_000);

  it("each jail's only action is net2ban (this machine's firewall is never touched)", async () => {
    for (const jail of ["sshd", RECORD_JAIL]) {
      const actions = (await f2b("get", jail, "actions")).trim().split("\n").slice(1);
      expect(actions.map((a) => a.trim())).toEqual(["net2ban"]);
    }
  });

  it("failed logins get the address banned on every host; fail2ban's unban lifts it, its stop does not", async () => {
    const f = fleet!;
    const net = network!;
    await appendFile(authLog(), failedLogin(OFFENDER, 1) + failedLogin(OFFENDER, 2));

    // The shipped sample jail: the stock iptables-multiport on every host, chain and port its own defaults.
    for (const host of HOSTS) {
      await f.waitForLog(
        agentOf(host),
        (l) => l.msg === `IP ${OFFENDER} banned` && l["file"] === "iptables-multiport",
        20_000,
      );
      const rules = (await net.exec(host, ["iptables", "-w", "-S"])).split("\n");
      expect(rules).toContain("-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd");
      expect(rules).toContain(`-A f2b-sshd -s ${OFFENDER}/32 -j REJECT --reject-with icmp-port-unreachable`);
    }
    // The recording jail: what the remote action got, including the jail's chain and bantime.
    for (const host of HOSTS) {
      await f.waitForBanLine(
        agentOf(host),
        `ban ${OFFENDER} name=${RECORD_JAIL} port=http,https protocol=tcp chain=n2b-custom bantime=7200`,
        20_000,
      );
    }
    expect(await f2b("status", "sshd")).toMatch(
      new RegExp(`Banned IP list:\\s+${OFFENDER.replaceAll(".", "\\.")}`),
    );
    expect(await run("nft", ["list", "ruleset"])).not.toContain(OFFENDER);
    await f.waitForLog("server", (l) => l.msg === "Forwarding: exec/iptables-multiport");

    await f2b("set", "sshd", "unbanip", OFFENDER);
    for (const host of HOSTS) {
      await f.waitForLog(
        agentOf(host),
        (l) => l.msg === `IP ${OFFENDER} unbanned` && l["file"] === "iptables-multiport",
        20_000,
      );
      expect(await net.exec(host, ["iptables", "-w", "-S", "f2b-sshd"])).not.toContain(OFFENDER);
    }

    // Stopping fail2ban runs net2ban.conf's actionflush, which sends nothing: the fleet keeps the bans
    // (the ledger ends them at their bantime), so a fail2ban restart never opens the hosts' firewalls.
    expect(await stopFail2ban()).toBe(0);
    const status = await f.ctl(["status", OFFENDER, "--json"]);
    expect(status.code).toBe(0);
    const { bans } = JSON.parse(status.stdout) as { bans: { ip: string; name?: string }[] };
    expect(bans.map((b) => [b.ip, b.name])).toEqual([[OFFENDER, RECORD_JAIL]]);
    for (const host of HOSTS) {
      expect(await f.banLines(agentOf(host))).toEqual([
        `ban ${OFFENDER} name=${RECORD_JAIL} port=http,https protocol=tcp chain=n2b-custom bantime=7200`,
      ]);
    }
    // fail2ban logs a failed action command as an ERROR: none of the net2banctl calls failed.
    const log = await readFile(join(dir!, "fail2ban.log"), "utf8");
    expect(log).toContain(`[sshd] Ban ${OFFENDER}`);
    expect(log).toContain(`[${RECORD_JAIL}] Flush ticket(s) with net2ban`);
    expect(log.split("\n").filter((line) => line.includes(" ERROR "))).toEqual([]);
  }, 90_000);
});
