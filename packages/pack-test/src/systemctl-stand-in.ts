// Test stand-in for systemctl on the getting-started test's hosts, which have no systemd (bundled into
// the test's host-tools/ as `systemctl`). It acts out what systemd does for net2ban's units:
// `daemon-reload` does nothing; `enable --now` and `start` start the unit's ExecStart inside its
// acted-out sandbox (unit-sandbox.ts: user, capabilities, mounts, address families), in /, output to a
// log file. Unlike Type=exec it then waits for the daemon's "started" log line, so the next step does
// not race the start-up. unit-sandbox.int.test.ts accounts for the settings it does not act out.
// Environment: N2B_TEST_STATE (log and pid files), N2B_TEST_SANDBOX_SCRIPT (host-tools/service-sandbox.py).
import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseUnitFile } from "./systemd-unit.js";
import { actOutUnit } from "./unit-sandbox.js";

function fail(line: string): never {
  console.error(line);
  process.exit(1);
}

const state = process.env["N2B_TEST_STATE"] ?? fail("systemctl (test stand-in): N2B_TEST_STATE is not set");
const sandboxScript =
  process.env["N2B_TEST_SANDBOX_SCRIPT"] ??
  fail("systemctl (test stand-in): N2B_TEST_SANDBOX_SCRIPT is not set");

async function start(unitName: string): Promise<void> {
  const name = unitName.endsWith(".service") ? unitName : `${unitName}.service`;
  const path = join("/etc/systemd/system", name);
  if (!existsSync(path)) fail(`Failed to enable unit: Unit file ${name} does not exist.`);
  const acted = actOutUnit(parseUnitFile(readFileSync(path, "utf8")), { sandboxScript });
  const base = join(state as string, `${hostname()}-${name}`);
  const log = `${base}.log`;
  const out = openSync(log, "a");
  const [file = "unshare", ...args] = acted.argv;
  const child = spawn(file, args, { cwd: "/", detached: true, stdio: ["ignore", out, out], env: acted.env });
  writeFileSync(`${base}.pid`, `${child.pid}\n`);
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = `${code ?? signal}`;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = readFileSync(log, "utf8");
    if (/"msg":"[^"]*started/.test(text)) break;
    if (exited !== undefined || Date.now() > deadline) {
      fail(`${name}: ${exited === undefined ? "did not start in 30 s" : `exited (${exited})`}\n${text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.unref();
}

async function main(argv: readonly string[]): Promise<number> {
  const now = argv.includes("--now");
  const [verb, ...units] = argv.filter((a) => a !== "--now" && a !== "--no-pager");
  if (verb === "daemon-reload") return 0;
  // Enabling alone only matters at the next boot, which these hosts never have.
  if (verb === "enable" && !now) return 0;
  if (verb === "enable" || verb === "start") {
    for (const unit of units) await start(unit);
    return 0;
  }
  console.error(`systemctl (test stand-in): ${verb} is not acted out`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) =>
    fail(`systemctl (test stand-in): ${error instanceof Error ? error.message : String(error)}`),
);
