// docs/getting-started.md, followed as a newcomer would: every marked command block runs, unchanged,
// in a root shell on its host, in the order of the page. The hosts are stand-ins on this machine:
// - mq: a mount namespace (overlays of /etc, /usr, /var, /root) on this machine's network, with a
//   private RabbitMQ node as its broker (rabbitmqctl reaches it through RABBITMQ_NODENAME);
// - web1, web2: the same, each also in its own network namespace (own iptables), reaching the broker
//   through a relay on their loopback (@net2ban/fleet's TestNetwork).
// Only mq has the guide's `git clone` (the test's own checkout, mounted at /root/net2ban), so a web host
// step that needed the repository would fail here as it would for a reader.
// What the test provides in place of the outside world: `npm install` reaches a local registry that
// serves the freshly packed @net2ban tarballs and passes every other package through from npm; `scp`
// and `systemctl` are stand-ins that copy between the hosts' file systems (host-tools/scp.mjs) and start a
// unit's ExecStart inside its acted-out sandbox (systemctl-stand-in.ts, bundled here: the unit's user,
// capabilities, read-only file system, state directory and address families). Needs root, `pnpm build`,
// RabbitMQ, iptables and python3-seccomp.
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import {
  type PrivateNode,
  startPrivateNode,
  stopPrivateNode,
  type TempDir,
  tempDir,
  waitFor,
} from "@net2ban/test-utils";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The namespace helpers live beside the fleet's firewall tests; @net2ban/fleet does not export them.
import { TestNetwork } from "../../fleet/src/netns.js";
import { type DocStep, parseDocSteps } from "./doc-steps.js";
import { HostShell } from "./host-shell.js";
import { type LocalRegistry, startLocalRegistry } from "./local-registry.js";
import { packPublished, REPO_ROOT } from "./workspace.js";

const GUIDE = join(REPO_ROOT, "docs", "getting-started.md");
const steps = parseDocSteps(readFileSync(GUIDE, "utf8"));
const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

let work: TempDir;
let registry: LocalRegistry | undefined;
let broker: PrivateNode | undefined;
let network: TestNetwork | undefined;
const shells = new Map<string, HostShell>();
/** Set by the first failing step: the steps after it cannot mean anything. */
let failedAt: string | undefined;
/** What each host printed for a step (for a check with `until:`, the run that passed). */
const checked = new Map<string, string>();

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error("getting-started.int.test.ts needs root (namespaces, useradd)");
  for (const tool of ["ip", "iptables", "setpriv", "nsenter", "unshare", "rabbitmqctl", "python3"]) {
    if (!SYSTEMD_PATH.split(":").some((dir) => existsSync(join(dir, tool)))) {
      throw new Error(`${tool} is missing: run scripts/setup-host.sh`);
    }
  }
  work = await tempDir("getting-started");
  // What the guide installs, and the packages those depend on.
  const packed = await packPublished(work.path, ["@net2ban/ctl", "@net2ban/server", "@net2ban/agent"]);
  registry = await startLocalRegistry({ packages: packed });
  broker = await startPrivateNode();
  network = await TestNetwork.create({ nodes: ["web1", "web2"], subnet: "10.78.0" });
  // On web1 and web2, 127.0.0.1:<port> reaches the broker and the registry as it does on mq.
  await network.relayBroker(`amqp://127.0.0.1:${broker.port}`, ["web1", "web2"]);
  await network.relayBroker(`http://127.0.0.1:${registry.port}`, ["web1", "web2"]);

  const tools = join(work.path, "host-tools");
  await mkdir(tools);
  await symlink(join(REPO_ROOT, "packages", "pack-test", "host-tools", "scp.mjs"), join(tools, "scp"));
  await build({
    entryPoints: [join(REPO_ROOT, "packages", "pack-test", "src", "systemctl-stand-in.ts")],
    outfile: join(tools, "systemctl"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
    logLevel: "error",
  });
  await chmod(join(tools, "systemctl"), 0o755);
  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    PATH: `${tools}:${SYSTEMD_PATH}`,
    HOME: "/root",
    LANG: "C.UTF-8",
    TERM: "dumb",
    N2B_TEST_STATE: work.path,
    N2B_TEST_SANDBOX_SCRIPT: join(REPO_ROOT, "packages", "pack-test", "host-tools", "service-sandbox.py"),
    npm_config_registry: registry?.url,
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
    ...extra,
  });
  for (const name of ["web1", "web2"]) {
    shells.set(
      name,
      await HostShell.start({
        name,
        dir: work.path,
        netnsPrefix: network.prefix(name),
        env: env({}),
      }),
    );
  }
  const hosts = ["web1", "web2"].map((name) => `${name}=${shells.get(name)?.pid}`).join(",");
  shells.set(
    "mq",
    await HostShell.start({
      name: "mq",
      dir: work.path,
      checkout: REPO_ROOT,
      env: env({ N2B_TEST_HOSTS: hosts, RABBITMQ_NODENAME: broker.nodename }),
    }),
  );
}, 600_000);

afterAll(async () => {
  // Services the systemctl stand-in started (pids in <state>/<host>-<unit>.pid), stopped while the broker
  // and the relays are still up, as systemd would: SIGTERM, then SIGKILL after a while.
  if (work) {
    const pids = await Promise.all(
      (await readdir(work.path))
        .filter((f) => f.endsWith(".pid"))
        .map(async (f) => Number(await readFile(join(work.path, f), "utf8"))),
    );
    await Promise.all(pids.map((pid) => stopProcess(pid, 15_000)));
  }
  for (const shell of shells.values()) await shell.close();
  await network?.destroy();
  if (broker) await stopPrivateNode(broker);
  await registry?.close();
  await work?.remove();
}, 120_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if `pid` is still there after `graceMs`. */
async function stopProcess(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive(pid)) process.kill(pid, "SIGKILL");
}

/** Log files of the services the stand-in systemctl started, for a failure message. */
async function serviceLogs(): Promise<string> {
  const logs = (await readdir(work.path)).filter((f) => f.endsWith(".log"));
  const parts = await Promise.all(
    logs.map(
      async (f) =>
        `--- ${f}\n${(await readFile(join(work.path, f), "utf8")).split("\n").slice(-15).join("\n")}`,
    ),
  );
  return parts.join("\n");
}

async function runStep(step: Extract<DocStep, { kind: "run" }>): Promise<void> {
  for (const host of step.hosts) {
    const shell = shells.get(host);
    if (!shell) throw new Error(`line ${step.line}: no host ${host} in this test`);
    if (step.until === undefined && step.untilNot === undefined) {
      const result = await shell.run(step.code, { timeoutMs: 300_000 }).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\n${await serviceLogs()}`, { cause: error });
      });
      checked.set(`${host} ${step.code}`, result.output);
      continue;
    }
    // A check the guide says becomes true "within a second": retried for a while.
    let last = "";
    await waitFor(
      async () => {
        const result = await shell.run(step.code, { tolerateFailure: true });
        last = result.output;
        const passed =
          step.until !== undefined ? last.includes(step.until) : !last.includes(step.untilNot ?? "");
        if (passed && step.until !== undefined) checked.set(`${host} ${step.code}`, last);
        return passed;
      },
      { what: `line ${step.line} on ${host}`, timeoutMs: 30_000, intervalMs: 500 },
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\nlast output:\n${last}\n${await serviceLogs()}`, { cause: error });
    });
  }
}

describe("docs/getting-started.md, run as written", () => {
  for (const step of steps) {
    const first = step.code.split("\n")[0] ?? "";
    if (step.kind === "skip") {
      it.skip(`line ${step.line}: ${first} (${step.reason})`, () => {});
      continue;
    }
    if (step.kind === "env") {
      it(`line ${step.line}: names (${step.names.join(", ")}) for this test's hosts`, async () => {
        // The broker is a private node on 127.0.0.1 (relayed into web1 and web2 on the same address).
        const values: Record<string, string> = { MQ: "127.0.0.1", MQ_PORT: String(broker?.port) };
        expect(step.names.every((name) => name in values)).toBe(true);
        for (const shell of shells.values()) {
          await shell.run(step.names.map((name) => `${name}=${values[name]}`).join("\n"));
        }
      });
      continue;
    }
    it(`line ${step.line} on ${step.hosts.join(", ")}: ${first}`, async () => {
      if (failedAt !== undefined) throw new Error(`not run: ${failedAt} failed`);
      try {
        await runStep(step);
      } catch (error) {
        failedAt = `line ${step.line}`;
        throw error;
      }
    }, 600_000);
  }

  it("ended with the ban applied and lifted on both web hosts, by agents running as net2ban", async () => {
    expect(failedAt).toBeUndefined();
    for (const host of ["web1", "web2"]) {
      const shell = shells.get(host);
      const log = await readFile(join(work.path, `${host}-net2ban-agent.service.log`), "utf8");
      expect(log).toContain("IP 203.0.113.9 banned");
      expect(log).toContain("IP 203.0.113.9 unbanned");
      const owner = await shell?.run(
        "ps -o user= -p $(cat $N2B_TEST_STATE/$(hostname -s)-net2ban-agent.service.pid)",
      );
      expect(owner?.output.trim()).toBe("net2ban");
      // Started inside the unit's acted-out sandbox: the address-family filter and no_new_privs.
      const status = await shell?.run(
        "cat /proc/$(cat $N2B_TEST_STATE/$(hostname -s)-net2ban-agent.service.pid)/status",
      );
      expect(status?.output).toMatch(/^Seccomp:\s+2$/m);
      expect(status?.output).toMatch(/^NoNewPrivs:\s+1$/m);
    }
  });

  it("shows the --wait answer net2banctl really printed (the ban reached both hosts and their replies came back)", () => {
    // The plain block after the ban is what the reader sees at the end (on a terminal the host lines are
    // a progress line on stderr; here, without a terminal, they are printed too).
    const guide = readFileSync(GUIDE, "utf8");
    const sample = /```\n(ban 203\.0\.113\.9: [^`]*)```/.exec(guide)?.[1]?.trim();
    expect(sample, "sample output block in the guide").toBe("ban 203.0.113.9: confirmed by all 2 host(s)");
    const printed = (checked.get("mq net2banctl ban 203.0.113.9 --name sshd --wait") ?? "")
      .trim()
      .split("\n");
    expect(printed.at(-1)).toBe(sample);
    expect(printed.filter((line) => /^ {2}web[12]: ok \(ban, [0-9.]+ ms\)$/.test(line))).toHaveLength(2);
  });

  it("shows the iptables output the hosts really printed", () => {
    // The plain block after the ban check is the sample output the reader compares with.
    const guide = readFileSync(GUIDE, "utf8");
    const sample = /```\n(Chain f2b-sshd[^`]*)```/.exec(guide)?.[1];
    expect(sample, "sample output block in the guide").toBeDefined();
    const words = (text: string) => text.trim().split(/\s+/);
    for (const host of ["web1", "web2"]) {
      expect(words(checked.get(`${host} iptables -n -L f2b-sshd`) ?? ""), host).toEqual(words(sample ?? ""));
    }
  });
});
