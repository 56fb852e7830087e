// Test helper: a network namespace of its own per test host, so that set-backend tests change no
// firewall but the namespace's. Actions reach it through a `.local` that prefixes their programs with
// `ip netns exec <ns>`, as an operator's `.local` would pick another binary.

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The action files net2ban ships (`packages/actions/action.d`). */
export const SHIPPED_ACTIONS_DIR = fileURLToPath(new URL("../action.d", import.meta.url));

/** Throws a clear message unless this process can make namespaces and run nft, ipset and iptables. */
export function assertNetnsTools(): void {
  if (process.getuid?.() !== 0) throw new Error("set-backend tests need root (network namespaces)");
  for (const tool of ["ip", "nft", "ipset", "iptables", "ip6tables"]) {
    const found = spawnSync("sh", ["-c", `command -v ${tool}`]);
    if (found.status !== 0) throw new Error(`${tool} is not installed (run scripts/setup-host.sh)`);
  }
}

export class TestNamespace {
  readonly name: string;
  /** An actions directory with the shipped files and a `.local` per file pointing into the namespace. */
  readonly actionsDir: string;

  constructor() {
    this.name = `n2bset-${process.pid}-${randomBytes(3).toString("hex")}`;
    execFileSync("ip", ["netns", "add", this.name]);
    execFileSync("ip", ["netns", "exec", this.name, "ip", "link", "set", "lo", "up"]);
    this.actionsDir = mkdtempSync(join(tmpdir(), "n2bset-"));
    cpSync(SHIPPED_ACTIONS_DIR, this.actionsDir, { recursive: true });
    const exec = `ip netns exec ${this.name}`;
    writeFileSync(join(this.actionsDir, "nftables-set.local"), `[Init]\nnftables = ${exec} nft\n`);
    writeFileSync(
      join(this.actionsDir, "ipset-set.local"),
      `[Init]\nipset = ${exec} ipset\niptables = ${exec} iptables\nip6tables = ${exec} ip6tables\n`,
    );
  }

  /** Runs a program in the namespace; its stdout (throws on a non-zero exit). */
  exec(program: string, ...args: string[]): string {
    return execFileSync("ip", ["netns", "exec", this.name, program, ...args], { encoding: "utf8" });
  }

  /** Like exec, but returns the exit status and output instead of throwing. */
  try(program: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync("ip", ["netns", "exec", this.name, program, ...args], { encoding: "utf8" });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  destroy(): void {
    spawnSync("ip", ["netns", "del", this.name]);
    rmSync(this.actionsDir, { recursive: true, force: true });
  }
}
