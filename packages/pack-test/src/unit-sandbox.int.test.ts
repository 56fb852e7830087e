// The units in configs/systemd started as systemd would start them, their sandbox acted out
// (unit-sandbox.ts): the server and an agent, each on a stand-in host (overlays of /etc and /var with the
// guide's user and directories), against the shared RabbitMQ; the agent in a network namespace, where the
// bans it receives through the server (iptables, ipset, nft) must land in that namespace's firewall. A
// unit setting that keeps a daemon from starting or banning (an address family, a path it must write, a
// capability, a system call) fails here.
// Needs root, `pnpm build`, RabbitMQ on 127.0.0.1:5672, iptables and Debian's python3-seccomp.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  cleanupQueues,
  requireBroker,
  type TempDir,
  tempDir,
  uniquePrefix,
  waitFor,
} from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The namespace helpers live beside the fleet's firewall tests; @net2ban/fleet does not export them.
import { TestNetwork } from "../../fleet/src/netns.js";
import { describeRun, runProcess } from "./process.js";
import { parseUnitFile, type UnitFile } from "./systemd-unit.js";
import { ACTED_OUT, actOutUnit, inHostOverlays, type UnitSandboxOptions } from "./unit-sandbox.js";
import { REPO_ROOT } from "./workspace.js";

const unitPath = (name: string) => join(REPO_ROOT, "configs", "systemd", name);
const readUnitText = (name: string) => readFileSync(unitPath(name), "utf8");
const SANDBOX_SCRIPT = join(REPO_ROOT, "packages", "pack-test", "host-tools", "service-sandbox.py");
const BINS: Record<string, string> = {
  "net2ban-server": join(REPO_ROOT, "packages", "server", "bin", "net2ban-server.js"),
  "net2ban-agent": join(REPO_ROOT, "packages", "agent", "bin", "net2ban-agent.js"),
};
const NET2BANCTL = join(REPO_ROOT, "packages", "ctl", "bin", "net2banctl.cjs");
/**
 * One ban per firewall tool the agent's capabilities and address families must allow, each with the
 * command that lists it in the agent's namespace (and fails once the action's actionstop removed it).
 */
const BANS = [
  {
    action: "iptables-multiport",
    name: "sshd",
    ip: "203.0.113.9",
    list: ["iptables", "-w", "-n", "-L", "f2b-sshd"],
  },
  { action: "iptables-ipset-proto6", name: "web", ip: "203.0.113.10", list: ["ipset", "list", "f2b-web"] },
  {
    action: "nftables-multiport",
    name: "mail",
    ip: "203.0.113.11",
    list: ["nft", "list", "set", "inet", "f2b-table", "addr-set-mail"],
  },
] as const;
/** The action files the bans need, with the files they include. */
const ACTION_FILES = [
  "iptables.conf",
  "iptables-multiport.conf",
  "iptables-ipset.conf",
  "iptables-ipset-proto6.conf",
  "nftables.conf",
  "nftables-multiport.conf",
];

/**
 * The [Service] settings of the shipped units that the sandbox does not act out, each with why that is
 * acceptable. A unit that gains a setting fails the first test until it is acted out or listed here.
 */
const NOT_ACTED_OUT: Readonly<Record<string, string>> = {
  Type: "exec: the test waits for the daemon's `started` line, which comes after the exec",
  ExecReload: "/bin/kill -HUP $MAINPID: the test sends the server SIGHUP itself",
  TimeoutStopSec: "the test stops the daemons and waits for their exit",
  Restart: "restart policy: the test asserts the exit status instead",
  RestartSec: "restart policy",
  RestartPreventExitStatus: "restart policy",
  SyslogIdentifier: "journal metadata; the test reads stdout",
  SyslogFacility: "journal metadata",
  PrivateDevices: "a minimal /dev (null, zero, random, urandom, tty kept): the daemons use no other device",
  ProtectKernelModules: "no module loading by the service: iptables-nft asks the kernel, which loads them",
  ProtectKernelLogs: "no kmsg/syslog(2): the daemons never read the kernel log",
  ProtectClock: "no clock changes: never made",
  ProtectHostname: "no host name changes: never made",
  ProtectProc: "invisible: other users' processes hidden; the daemons read only their own /proc entries",
  RemoveIPC: "System V IPC removed at stop: none is used",
  RestrictNamespaces: "no new namespaces: none is made",
  RestrictRealtime: "no realtime scheduling: none is asked for",
  RestrictSUIDSGID: "no set-uid files: none is made",
  LockPersonality: "personality(2) fixed: never called",
  SystemCallArchitectures: "native only: Node and the firewall tools are native binaries",
};

let work: TempDir;
let network: TestNetwork | undefined;
const prefix = uniquePrefix("sandbox");
const running = new Set<Service>();

interface Service {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
  killSignal: NodeJS.Signals;
}

/** A stand-in host's own /etc and /var: overlays whose upper layers are under `work/<host>`. */
function hostOptions(host: string): UnitSandboxOptions {
  const dir = join(work.path, host);
  return {
    sandboxScript: SANDBOX_SCRIPT,
    resolveCommand: (name) => {
      const bin = BINS[name];
      if (bin === undefined) throw new Error(`no built binary for ${name}`);
      return bin;
    },
    overlays: ["etc", "var"].map((d) => ({
      target: `/${d}`,
      upperDir: join(dir, d),
      workDir: join(dir, `${d}.work`),
    })),
    // The built bins and their node_modules: under /tmp in a fresh CI clone, hidden by PrivateTmp= else.
    keepVisible: [REPO_ROOT],
  };
}

/** The uid of the net2ban user on `host` (useradd wrote it to the overlay's /etc/passwd). */
async function hostUid(host: string): Promise<number> {
  const passwd = await readFile(join(work.path, host, "etc", "passwd"), "utf8");
  const uid = passwd
    .split("\n")
    .map((line) => line.split(":"))
    .find((fields) => fields[0] === "net2ban")?.[2];
  if (uid === undefined) throw new Error(`${host}: no net2ban user in its /etc/passwd`);
  return Number(uid);
}

/** Runs a root shell script on `host` (its overlays mounted), as its operator would. */
async function onHost(host: string, script: string, args: readonly string[] = []): Promise<string> {
  const [file = "unshare", ...rest] = inHostOverlays(hostOptions(host), [
    "sh",
    "-euc",
    script,
    "sh",
    ...args,
  ]);
  const result = await runProcess(file, rest, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(describeRun(`on ${host}: ${script}`, result));
  return result.stdout;
}

/** The guide's preparation of a host: the net2ban user, /etc/net2ban (and action.d), its config. */
async function prepareHost(host: string, config: string, actions: readonly string[] = []): Promise<void> {
  const file = join(work.path, `${host}.cfg`);
  await writeFile(file, config, { mode: 0o600 });
  await onHost(
    host,
    `# A new host: hide whatever this machine has there (whiteouts in the upper layer only).
rm -rf /var/lib/net2ban /etc/net2ban
useradd --system --no-create-home --shell /usr/sbin/nologin net2ban
install -d -o root -g net2ban -m 0750 /etc/net2ban
install -d -o root -g net2ban -m 0770 /etc/net2ban/action.d
install -d -o net2ban -g net2ban -m 0750 /var/lib/net2ban
install -o root -g net2ban -m 0640 "$1" /etc/net2ban/net2ban.cfg
shift
for action in "$@"; do install -o root -g net2ban -m 0640 "/etc/fail2ban/action.d/$action" /etc/net2ban/action.d/; done`,
    [file, ...actions],
  );
}

/**
 * Starts `unitText` acted out on `host` (inside `netnsPrefix` if given) and resolves once the daemon
 * logged its `started` line; rejects with its output if it exits first.
 */
async function startUnit(
  host: string,
  unitText: string,
  netnsPrefix: readonly string[] = [],
): Promise<Service> {
  const acted = actOutUnit(parseUnitFile(unitText), hostOptions(host));
  const [file = "unshare", ...args] = [...netnsPrefix, ...acted.argv];
  const child = spawn(file, args, { env: acted.env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const service: Service = { name: host, child, output: () => output, exited, killSignal: acted.killSignal };
  running.add(service);
  let status: number | string | undefined;
  void exited.then((s) => {
    status = s;
  });
  await waitFor(() => status !== undefined || /"msg":"[^"]*started/.test(output), {
    what: `${host}: the daemon's started line`,
    timeoutMs: 60_000,
    intervalMs: 100,
  });
  if (status !== undefined) {
    running.delete(service);
    throw new ServiceExitedError(`${host} exited (${status}) before it started:\n${output}`, status, output);
  }
  return service;
}

/** The per-mount options of `point` as process `pid` sees it (the last mount there is the visible one). */
async function mountOptions(pid: number | undefined, point: string): Promise<string[]> {
  const line = (await readFile(`/proc/${pid}/mountinfo`, "utf8"))
    .split("\n")
    .filter((l) => l.split(" ")[4] === point)
    .at(-1);
  return line?.split(" ")[5]?.split(",") ?? [];
}

class ServiceExitedError extends Error {
  override name = "ServiceExitedError";
  constructor(
    message: string,
    readonly status: number | string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** Stops a service with its KillSignal= and resolves with its exit status. */
async function stopUnit(service: Service): Promise<number | string> {
  if (service.child.exitCode === null && service.child.signalCode === null) {
    service.child.kill(service.killSignal);
  }
  const status = await service.exited;
  running.delete(service);
  return status;
}

function configText(mode: "server" | "client", keys: { server: string; web1: string }): string {
  const global = [
    "[global]",
    "url = amqp://guest:guest@127.0.0.1:5672/",
    `mode = ${mode}`,
    "rounds = 1000",
    `secret = ${SHARED.secret}`,
    `authkey = ${SHARED.authkey}`,
    `queue_prefix = ${prefix}`,
  ];
  const server = ["[server]", `input = ${prefix}input`, `key = ${keys.server}`];
  const web1 = ["[web1]", `key = ${keys.web1}`];
  const sections = mode === "server" ? [global, server, ["[keygen]", "keylen = 40"], web1] : [global, web1];
  return `${sections.map((s) => s.join("\n")).join("\n\n")}\n`;
}

const hex = () => randomBytes(20).toString("hex");
const SHARED = { secret: hex(), authkey: hex() };
const KEYS = { server: hex(), web1: hex() };

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error("unit-sandbox.int.test.ts needs root (mount namespaces, setpriv)");
  for (const bin of [...Object.values(BINS), NET2BANCTL]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`pnpm build\` first`);
  }
  const seccomp = await runProcess("/usr/bin/python3", ["-c", "import seccomp"]);
  expect(seccomp.code, "python3-seccomp is missing: run scripts/setup-host.sh").toBe(0);
  await requireBroker();
  work = await tempDir("unit-sandbox");
  network = await TestNetwork.create({ nodes: ["web1"], subnet: "10.79.0" });
  await network.relayBroker("amqp://127.0.0.1:5672", ["web1"]);
  await prepareHost("mq", configText("server", KEYS));
  await prepareHost("web1", configText("client", KEYS), ACTION_FILES);
}, 120_000);

afterAll(async () => {
  for (const service of [...running]) {
    service.child.kill("SIGKILL");
    await service.exited;
  }
  await network?.destroy();
  await cleanupQueues(prefix);
  await work?.remove();
}, 120_000);

describe("acting out the units' sandbox", () => {
  it("every [Service] setting of both units is acted out or listed with the reason it need not be", () => {
    const listed = new Set<string>();
    for (const name of ["net2ban-server.service", "net2ban-agent.service"]) {
      const unit: UnitFile = parseUnitFile(readUnitText(name));
      const acted = actOutUnit(unit, {
        sandboxScript: SANDBOX_SCRIPT,
        resolveCommand: (bin) => bin,
        keepVisible: [REPO_ROOT],
      });
      for (const key of acted.notActedOut) {
        expect(
          NOT_ACTED_OUT[key],
          `${name}: ${key}= is neither acted out nor listed in NOT_ACTED_OUT`,
        ).toBeDefined();
        listed.add(key);
      }
    }
    // A listed setting that no unit has any more, or that is acted out now, goes from the list.
    expect(Object.keys(NOT_ACTED_OUT).filter((key) => !listed.has(key) || ACTED_OUT.includes(key))).toEqual(
      [],
    );
  });

  // The address families of the a504975 server unit: systemd showed errno 97 and a restart every 2 s.
  for (const [name, host] of [
    ["net2ban-server.service", "mq"],
    ["net2ban-agent.service", "web1"],
  ] as const) {
    it(`${name} without AF_NETLINK stops at start with exit 2 and one line naming it (EAFNOSUPPORT)`, async () => {
      const withoutNetlink = readUnitText(name).replace(
        /^RestrictAddressFamilies=.*$/m,
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
      );
      const error = await startUnit(
        host,
        withoutNetlink,
        host === "web1" ? network?.prefix("web1") : [],
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ServiceExitedError);
      const exited = error as ServiceExitedError;
      // 2: RestartPreventExitStatus= keeps systemd from restarting what a restart cannot fix.
      expect(exited.status, exited.output).toBe(2);
      expect(exited.output).toContain(
        "cannot read this host's own addresses, which no ban may cover: opening a netlink socket failed " +
          "with EAFNOSUPPORT; under systemd, RestrictAddressFamilies= must include AF_NETLINK",
      );
    }, 90_000);
  }

  it("a server unit whose SystemCallFilter= leaves out what Node needs cannot start, so the filter is in force", async () => {
    const narrow = readUnitText("net2ban-server.service").replace(
      /^SystemCallFilter=.*$/m,
      "SystemCallFilter=@default @basic-io @file-system @setuid @process @signal @network-io capset",
    );
    const error = await startUnit("mq", narrow).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServiceExitedError);
    const exited = error as ServiceExitedError;
    expect(exited.status).not.toBe(0);
    // Node itself failed (without @io-event it cannot make its event loop), not setpriv before it.
    expect(exited.output).not.toContain("setpriv:");
    expect(exited.output).toContain("uv_loop_init");
  }, 90_000);
});

describe("the units as shipped, acted out", () => {
  let server: Service | undefined;
  let agent: Service | undefined;
  const netns = () => network?.prefix("web1") ?? [];

  it("the server starts as net2ban, without capabilities, in its sandbox", async () => {
    server = await startUnit("mq", readUnitText("net2ban-server.service"));
    const pid = server.child.pid;
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapBnd:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    // RestrictAddressFamilies= and SystemCallFilter=, one filter each.
    expect(status).toMatch(/^Seccomp_filters:\s+2$/m);
    expect(await mountOptions(pid, "/")).toContain("ro");
    expect(await mountOptions(pid, "/proc/sys")).toContain("ro");
    expect(await mountOptions(pid, "/var/lib/net2ban")).toContain("rw");
    expect(status).toMatch(new RegExp(`^Uid:\\s+${await hostUid("mq")}\\s`, "m"));
  }, 90_000);

  it("the agent starts as net2ban with CAP_NET_ADMIN and CAP_NET_RAW only, in a network namespace", async () => {
    agent = await startUnit("web1", readUnitText("net2ban-agent.service"), netns());
    const status = await readFile(`/proc/${agent.child.pid}/status`, "utf8");
    expect(status).toMatch(/^CapEff:\s+0+3000$/m);
    expect(status).toMatch(/^CapAmb:\s+0+3000$/m);
    expect(status).toMatch(/^CapBnd:\s+0+3000$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(new RegExp(`^Uid:\\s+${await hostUid("web1")}\\s`, "m"));
    expect(await mountOptions(agent.child.pid, "/etc/net2ban/action.d")).toContain("rw");
    expect(await mountOptions(agent.child.pid, "/etc")).toContain("ro");
    expect(status).toMatch(/^Seccomp:\s+2$/m);
  }, 90_000);

  /** Runs `argv` in web1's network namespace (as root, outside the agent's sandbox). */
  const inWeb1 = (argv: readonly string[]) => runProcess(netns()[0] ?? "ip", [...netns().slice(1), ...argv]);

  for (const ban of BANS) {
    it(`a ban sent to the server lands in the agent's firewall (${ban.action}, run by the agent)`, async () => {
      expect(server && agent, "both daemons started").toBeTruthy();
      const ctl = await runProcess(
        process.execPath,
        [
          NET2BANCTL,
          "--config",
          join(work.path, "mq.cfg"),
          "ban",
          ban.ip,
          "--action",
          ban.action,
          "--name",
          ban.name,
        ],
        { timeoutMs: 60_000 },
      );
      expect(ctl.code, describeRun("net2banctl ban", ctl)).toBe(0);
      let listed = "";
      await waitFor(
        async () => {
          listed = (await inWeb1(ban.list)).stdout;
          return listed.includes(ban.ip);
        },
        { what: `${ban.ip} in web1's ${ban.list.join(" ")}`, timeoutMs: 30_000, intervalMs: 200 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n--- agent\n${agent?.output()}\n--- server\n${server?.output()}`, {
          cause: error,
        });
      });
      expect(agent?.output()).toContain(`IP ${ban.ip} banned`);
    }, 90_000);
  }

  it("the iptables-multiport ban is a REJECT rule", async () => {
    const rules = (await inWeb1(["iptables", "-w", "-n", "-L", "f2b-sshd"])).stdout;
    expect(rules).toMatch(/REJECT .*203\.0\.113\.9/);
  });

  it("the server reloads on SIGHUP in its sandbox (it reads its own addresses again)", async () => {
    expect(server, "the server started").toBeDefined();
    server?.child.kill("SIGHUP");
    await waitFor(() => server?.output().includes('"msg":"configuration reloaded"'), {
      what: "the server's configuration reloaded line",
      timeoutMs: 30_000,
      intervalMs: 100,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${server?.output()}`, { cause: error });
    });
  }, 60_000);

  it("both stop cleanly on their KillSignal; the agent's actionstop removes its chain, set and table", async () => {
    expect(server && agent, "both daemons started").toBeTruthy();
    if (agent) expect(await stopUnit(agent), agent.output()).toBe(0);
    if (server) expect(await stopUnit(server), server.output()).toBe(0);
    for (const ban of BANS) {
      const listed = await inWeb1(ban.list);
      expect(listed.code, `${ban.list.join(" ")} after actionstop:\n${listed.stdout}`).not.toBe(0);
    }
  }, 120_000);
});
