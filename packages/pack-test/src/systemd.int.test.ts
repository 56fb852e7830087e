// The systemd units in configs/systemd as shipped: `systemd-analyze verify` and `security` pass on
// them, and the agent's capability set is enough for iptables, ipset and nft without root. Needs
// root (mount and network namespaces) and Debian's systemd package (scripts/setup-host.sh installs it).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TempDir, tempDir } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, runProcess } from "./process.js";
import { parseUnitFile, unitCapabilities, unitExecStart, unitValue } from "./systemd-unit.js";
import { REPO_ROOT } from "./workspace.js";

const UNITS = ["net2ban-server.service", "net2ban-agent.service"] as const;
const unitPath = (name: string) => join(REPO_ROOT, "configs", "systemd", name);
const readUnit = (name: string) => parseUnitFile(readFileSync(unitPath(name), "utf8"));

let work: TempDir;

beforeAll(async () => {
  const version = await runProcess("systemd-analyze", ["--version"]).catch((error: unknown) => {
    throw new Error("systemd-analyze is missing: run scripts/setup-host.sh (installs Debian's systemd)", {
      cause: error,
    });
  });
  expect(version.code, describeRun("systemd-analyze --version", version)).toBe(0);
  if (process.getuid?.() !== 0)
    throw new Error("systemd.int.test.ts needs root (mount and network namespaces)");
  work = await tempDir("systemd");
});

afterAll(async () => {
  await work?.remove();
});

/**
 * Runs `systemd-analyze args` in a private mount namespace where /usr/local/bin holds stand-ins for
 * the net2ban binaries: `verify` checks that ExecStart resolves on systemd's own search path, which
 * is where `npm install -g` puts them, and nothing is written to the real /usr/local/bin.
 */
async function analyzeWithBinaries(args: string[]) {
  const bin = join(work.path, "bin");
  await mkdir(bin, { recursive: true });
  for (const name of ["net2ban-server", "net2ban-agent", "net2banctl"]) {
    await writeFile(join(bin, name), "#!/bin/sh\nexit 0\n");
    await chmod(join(bin, name), 0o755);
  }
  const script = 'mount --bind "$0" /usr/local/bin && exec systemd-analyze "$@"';
  return runProcess("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, bin, ...args], {
    timeoutMs: 60_000,
  });
}

describe("systemd units", () => {
  for (const name of UNITS) {
    it(`systemd-analyze verify passes on ${name}`, async () => {
      const result = await analyzeWithBinaries(["verify", unitPath(name)]);
      expect(result.code, describeRun(`systemd-analyze verify ${name}`, result)).toBe(0);
      // verify exits 0 on some warnings; the units should produce none.
      expect(result.stderr.trim()).toBe("");
    });
  }

  it("verify fails when ExecStart names a binary that is not installed, so the check above can fail", async () => {
    const missing = `net2ban-agent-missing-${randomBytes(3).toString("hex")}`;
    const copy = join(work.path, "missing-binary.service");
    await writeFile(
      copy,
      readFileSync(unitPath("net2ban-agent.service"), "utf8").replace(
        /^ExecStart=net2ban-agent/m,
        `ExecStart=${missing}`,
      ),
    );
    const result = await analyzeWithBinaries(["verify", copy]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${missing} is not executable`);
  });

  it("both run as the net2ban user with ProtectSystem=strict and a state directory", () => {
    for (const name of UNITS) {
      const unit = readUnit(name);
      expect(unitValue(unit, "Service", "User"), name).toBe("net2ban");
      expect(unitValue(unit, "Service", "Group"), name).toBe("net2ban");
      expect(unitValue(unit, "Service", "ProtectSystem"), name).toBe("strict");
      expect(unitValue(unit, "Service", "NoNewPrivileges"), name).toBe("yes");
      expect(unitValue(unit, "Service", "StateDirectory"), name).toBe("net2ban");
      expect(unitExecStart(unit).slice(1), name).toEqual(["--config", "/etc/net2ban/net2ban.cfg"]);
    }
    expect(unitCapabilities(readUnit("net2ban-server.service"), "CapabilityBoundingSet")).toEqual([]);
    expect(unitCapabilities(readUnit("net2ban-server.service"), "AmbientCapabilities")).toEqual([]);
    const agent = readUnit("net2ban-agent.service");
    expect(unitCapabilities(agent, "AmbientCapabilities")).toEqual(["net_admin", "net_raw"]);
    expect(unitCapabilities(agent, "CapabilityBoundingSet")).toEqual(["net_admin", "net_raw"]);
  });

  // systemd's own exposure score (0 = locked down, 10 = unprotected). The agent scores higher than the
  // server because of its capabilities and netlink; both stay in systemd's "OK" band.
  for (const [name, threshold] of [
    ["net2ban-server.service", 2],
    ["net2ban-agent.service", 3],
  ] as const) {
    it(`systemd-analyze security rates ${name} at most ${threshold}`, async () => {
      const copy = join(work.path, name);
      await copyFile(unitPath(name), copy);
      const result = await runProcess(
        "systemd-analyze",
        ["security", "--offline=true", "--no-pager", `--threshold=${threshold * 10}`, copy],
        { timeoutMs: 60_000 },
      );
      // --threshold takes the score times ten (0-100).
      expect(result.code, describeRun(`systemd-analyze security ${name}`, result)).toBe(0);
      const score = /Overall exposure level for \S+: ([\d.]+)/.exec(result.stdout)?.[1];
      expect(Number(score)).toBeLessThanOrEqual(threshold);
    });
  }
});

describe("the agent's capabilities, without root", () => {
  const netns = `n2b-cap-${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    const add = await runProcess("ip", ["netns", "add", netns]);
    expect(add.code, describeRun(`ip netns add ${netns}`, add)).toBe(0);
  });

  afterAll(async () => {
    await runProcess("ip", ["netns", "del", netns]);
  });

  /** Runs `command` in the namespace as nobody with exactly the unit's ambient capabilities. */
  function asAgent(command: string, caps: string[]) {
    const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
    return runProcess(
      "ip",
      [
        "netns",
        "exec",
        netns,
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        `--inh-caps=${set}`,
        `--ambient-caps=${set}`,
        `--bounding-set=${set}`,
        "sh",
        "-c",
        command,
      ],
      { timeoutMs: 30_000 },
    );
  }

  it("iptables (nf_tables), ipset and nft ban an address as the unit's user would", async () => {
    const caps = unitCapabilities(readUnit("net2ban-agent.service"), "AmbientCapabilities");
    // What iptables-multiport and iptables-ipset-proto6 run for a ban.
    const steps = [
      "iptables -w -N f2b-sshd",
      "iptables -w -A f2b-sshd -j RETURN",
      "iptables -w -I INPUT -p tcp -m multiport --dports 22 -j f2b-sshd",
      "iptables -w -I f2b-sshd 1 -s 203.0.113.9 -j REJECT --reject-with icmp-port-unreachable",
      "ipset -exist create f2b-web hash:ip timeout 0",
      "ipset -exist add f2b-web 203.0.113.10 timeout 0",
      "nft list ruleset",
    ];
    for (const step of steps) {
      const result = await asAgent(step, caps);
      expect(result.code, describeRun(step, result)).toBe(0);
    }
    const listed = await asAgent("iptables -w -n -L f2b-sshd", caps);
    expect(listed.stdout).toMatch(/REJECT.*203\.0\.113\.9/);
    const set = await asAgent("ipset list f2b-web", caps);
    expect(set.stdout).toContain("203.0.113.10");
  });

  it("without those capabilities the same user cannot touch the firewall", async () => {
    const result = await asAgent("iptables -w -N f2b-denied", []);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Permission denied|Operation not permitted/);
  });
});
