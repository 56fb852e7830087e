// What the set-backend suites (sets, catch-up with sets) share: the action files the actions package
// ships, a checked synchronous run, the wall time of one process fed on stdin, and test addresses.
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** @net2ban/actions' own action files (nftables-set.conf, ipset-set.conf). */
export function shippedActionsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@net2ban/actions/package.json")), "action.d");
}

/** Runs `program` (stdin `input`), returns its stdout; throws naming the command when it fails. */
export function sh(program: string, args: readonly string[], input?: string): string {
  const result = spawnSync(program, args, { encoding: "utf8", input, maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`${program} ${args.join(" ")} failed (exit ${result.status}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Wall time of one process fed `input` on stdin, spawn to exit (the floor's process start included). */
export function timed(program: string, args: readonly string[], input: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(program, args, { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`${program} ${args.join(" ")} exited ${code}: ${stderr.trim().slice(0, 500)}`));
    });
    child.stdin.end(input);
  });
}

/** `count` distinct IPv4 addresses in 10.0.0.0/8. */
export function addresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
}
