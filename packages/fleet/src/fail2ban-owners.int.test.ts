// Ban ownership with the real fail2ban: two private fail2ban-servers are two detection hosts, each
// sending through the shipped net2ban.conf with its own publisher file (`net2banctl get_publisher`), to
// a real server and agent (the demo action records each ban and unban). Both detect one address; a
// restart of one fail2ban, its `unbanip` and its bantime expiry release only that host's hold, and the
// address is lifted on the agent only when the last holder's ban ends.
import { type ChildProcess, spawn } from "node:child_process";
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { brokerUrl } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binPath, Fleet, probeBroker } from "./fleet.js";
import { run, runQuiet } from "./netns.js";

const url = brokerUrl();
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const FAIL2BAN = "/etc/fail2ban";
/** A TEST-NET-1 address: the failed logins come from it. */
const OFFENDER = "192.0.2.77";
const JAIL = "n2bowners";
const AGENT = "agent1";

const unavailable = (await runQuiet("which", ["fail2ban-server", "fail2ban-client"])).ok
  ? undefined
  : "fail2ban is not installed";
const skip = unavailable !== undefined && !process.env["CI"];

/** One detection host: a fail2ban of its own (config, socket, database, watched log) and publisher. */
class DetectionHost {
  child: ChildProcess | undefined;
  exited: Promise<number | null> | undefined;
  output = "";

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly bantime: number,
  ) {}

  get socket(): string {
    return join(this.dir, "f2b.sock");
  }
  get authLog(): string {
    return join(this.dir, "auth.log");
  }
  get log(): string {
    return join(this.dir, "fail2ban.log");
  }
  get conf(): string {
    return join(this.dir, "conf");
  }

  client(...args: string[]): Promise<string> {
    return run("fail2ban-client", ["-s", this.socket, ...args]);
  }

  /** The stock jail.conf and filters; as the only action the shipped net2ban.conf, sent with `publisher`. */
  async configure(publisherConfig: string): Promise<void> {
    await mkdir(join(this.conf, "action.d"), { recursive: true });
    await mkdir(join(this.conf, "jail.d"), { recursive: true });
    await cp(join(FAIL2BAN, "filter.d"), join(this.conf, "filter.d"), { recursive: true });
    for (const file of ["jail.conf", "paths-common.conf", "paths-debian.conf"]) {
      await cp(join(FAIL2BAN, file), join(this.conf, file));
    }
    await writeFile(
      join(this.conf, "fail2ban.conf"),
      [
        "[Definition]",
        "loglevel = INFO",
        `logtarget = ${this.log}`,
        "syslogsocket = auto",
        `socket = ${this.socket}`,
        `pidfile = ${join(this.dir, "f2b.pid")}`,
        // On disk, so that a restart restores the bans, as an installed fail2ban does.
        `dbfile = ${join(this.dir, "fail2ban.sqlite3")}`,
        "dbpurgeage = 1d",
        "allowipv6 = auto",
        "",
      ].join("\n"),
    );
    await cp(join(REPO, "configs/fail2ban/action.d/net2ban.conf"), join(this.conf, "action.d/net2ban.conf"));
    const ctl = binPath("@net2ban/ctl", "net2banctl");
    await writeFile(
      join(this.conf, "action.d/net2ban.local"),
      ["[Init]", `net2banctl = ${process.execPath} ${ctl}`, `config = ${publisherConfig}`, ""].join("\n"),
    );
    await writeFile(
      join(this.conf, "jail.d/owners.local"),
      [
        `[${JAIL}]`,
        "enabled = true",
        "filter = sshd",
        `logpath = ${this.authLog}`,
        "backend = polling",
        "maxretry = 2",
        "findtime = 10m",
        `bantime = ${this.bantime}`,
        "banaction = net2ban[action=net2ban-demo]",
        "",
      ].join("\n"),
    );
    await writeFile(this.authLog, "", { flag: "a" });
  }

  async start(): Promise<void> {
    const child = spawn("fail2ban-client", ["-c", this.conf, "-x", "-f", "start"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (d: Buffer) => {
        this.output += d.toString();
      });
    }
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await runQuiet("fail2ban-client", ["-s", this.socket, "status"]);
      if (status.ok && status.stdout.includes(JAIL)) return;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `fail2ban of ${this.name} did not start: ${this.output}\n${status.stdout}${status.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<number | null> {
    const child = this.child;
    if (child === undefined || this.exited === undefined) return null;
    if (child.exitCode === null && child.signalCode === null) {
      const stopped = await runQuiet("fail2ban-client", ["-s", this.socket, "stop"], 30_000);
      if (!stopped.ok) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }

  async failedLogins(ip: string): Promise<void> {
    await appendFile(this.authLog, failedLogin(ip, 1) + failedLogin(ip, 2));
  }

  async waitForLogLine(text: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const log = await readFile(this.log, "utf8").catch(() => "");
      if (log.includes(text)) return;
      if (Date.now() > deadline) throw new Error(`fail2ban of ${this.name} never logged "${text}":\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async errors(): Promise<string[]> {
    const log = await readFile(this.log, "utf8");
    return log.split("\n").filter((line) => line.includes(" ERROR "));
  }
}

/** A syslog line of sshd as Debian writes it, stamped now in local time (fail2ban reads it so). */
function failedLogin(ip: string, n: number): string {
  const now = new Date();
  const month = now.toLocaleString("en-US", { month: "short" });
  const pad = (v: number) => String(v).padStart(2, "0");
  const stamp = `${month} ${String(now.getDate()).padStart(2, " ")} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
  return `${stamp} bastion sshd[${5100 + n}]: Failed password for invalid user admin from ${ip} port ${41000 + n} ssh2\n`;
}

let fleet: Fleet | undefined;
let dir: string | undefined;
const hosts: DetectionHost[] = [];

/** The publishers holding OFFENDER's ban in the server's ledger (`status` is answered in turn with bans). */
async function holders(): Promise<string[]> {
  const result = await fleet!.ctl(["status", OFFENDER, "--json"]);
  if (result.code !== 0) throw new Error(`net2banctl status failed: ${result.stderr}`);
  const { bans } = JSON.parse(result.stdout) as { bans: { ip: string; holders?: Record<string, unknown> }[] };
  return bans
    .filter((b) => b.ip === OFFENDER)
    .flatMap((b) => Object.keys(b.holders ?? {}))
    .sort();
}

async function unbanLines(): Promise<string[]> {
  return (await fleet!.banLines(AGENT)).filter((line) => line.startsWith("unban "));
}

describe.skipIf(skip)("two detection hosts (real fail2ban) hold one ban", () => {
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`fail2ban ownership test cannot run: ${unavailable}`);
    await probeBroker(url);
    dir = await mkdtemp(join(tmpdir(), "n2b-f2b-owners-"));
    fleet = await Fleet.create({ agents: 1, brokerUrl: url, rounds: 1000, label: "f2bown" });
    // hostA's bans last an hour; hostB's end by fail2ban's own expiry during the test.
    for (const [name, bantime] of [
      ["hostA", 3600],
      ["hostB", 30],
    ] as const) {
      await appendFile(
        fleet.serverConfigPath,
        `\n[publisher:${name}]\nkey = ${name}-${fleet.prefix}-key\nactions = net2ban-demo\n`,
      );
      hosts.push(new DetectionHost(name, join(dir, name), bantime));
    }
    await fleet.startServer();
    await fleet.startAgent(AGENT);
    for (const host of hosts) {
      const exported = await fleet.ctl(["get_publisher", host.name]);
      if (exported.code !== 0) throw new Error(`get_publisher ${host.name}: ${exported.stderr}`);
      await mkdir(host.dir, { recursive: true });
      const file = join(host.dir, "publisher.cfg");
      await writeFile(file, exported.stdout, { mode: 0o600 });
      await host.configure(file);
      await host.start();
    }
  }, 120_000);

  afterAll(async () => {
    try {
      for (const host of hosts) await host.stop();
    } finally {
      try {
        await fleet?.close();
      } finally {
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      }
    }
  }, 90_000);

  it("a restart, unbanip and bantime expiry each release one host's hold; the last one lifts the ban", async () => {
    const f = fleet!;
    const [a, b] = hosts as [DetectionHost, DetectionHost];

    await a.failedLogins(OFFENDER);
    await f.waitForBanLine(AGENT, `ban ${OFFENDER}`, 20_000);
    expect(await holders()).toEqual(["hostA"]);

    // A fail2ban restart on hostA, the only holder: its stop sends nothing (actionflush), so the ban
    // stays on the agent; at start fail2ban restores it from its database and bans again.
    expect(await a.stop()).toBe(0);
    expect(await holders()).toEqual(["hostA"]);
    expect(await unbanLines()).toEqual([]);
    await a.start();
    await a.waitForLogLine(`[${JAIL}] Restore Ban ${OFFENDER}`);
    expect(await a.client("status", JAIL)).toContain(OFFENDER);

    await b.failedLogins(OFFENDER);
    await b.waitForLogLine(`[${JAIL}] Ban ${OFFENDER}`);
    await expect.poll(holders, { timeout: 20_000 }).toEqual(["hostA", "hostB"]);

    // hostA's unbanip releases hostA's hold only: hostB still holds the address.
    await a.client("set", JAIL, "unbanip", OFFENDER);
    await f.waitForLog("server", (l) => l.msg.includes("hostA's hold released; still held by hostB"), 20_000);
    expect(await holders()).toEqual(["hostB"]);
    expect(await unbanLines()).toEqual([]);

    // hostB's fail2ban lifts its ban when its bantime ends: the last hold, so the agent unbans.
    await b.waitForLogLine(`[${JAIL}] Unban ${OFFENDER}`, 60_000);
    await f.waitForBanLine(AGENT, `unban ${OFFENDER}`, 30_000);
    expect(await holders()).toEqual([]);

    for (const host of hosts) expect(await host.errors()).toEqual([]);
  }, 180_000);
});
