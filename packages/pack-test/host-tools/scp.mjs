#!/usr/bin/env node
// Test stand-in for scp between the getting-started test's hosts: `scp FILE... root@HOST:DIR/` writes
// each file into HOST's own file system (its mount namespace, found through N2B_TEST_HOSTS).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const hosts = new Map(
  (process.env.N2B_TEST_HOSTS ?? "")
    .split(",")
    .filter((e) => e !== "")
    .map((e) => e.split("=")),
);
const args = process.argv.slice(2);
const target = /^(?:[^@]+@)?([^:]+):(.*)$/.exec(args.at(-1) ?? "");
if (!target || args.length < 2) {
  console.error("usage (test stand-in): scp FILE... [user@]HOST:[PATH]");
  process.exit(1);
}
const [, host, path] = target;
const pid = hosts.get(host);
if (!pid) {
  console.error(`ssh: Could not resolve hostname ${host}: Name or service not known`);
  process.exit(255);
}
for (const file of args.slice(0, -1)) {
  const dir = path === "" ? "/root/" : path;
  const dest = dir.endsWith("/") ? `${dir}${basename(file)}` : dir;
  const result = spawnSync(
    "nsenter",
    ["--target", pid, "--mount", "--", "sh", "-c", 'umask 022 && cat > "$1"', "sh", dest],
    { input: readFileSync(file), stdio: ["pipe", "inherit", "inherit"] },
  );
  if (result.status !== 0) process.exit(1);
}
