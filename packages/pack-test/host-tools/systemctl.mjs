#!/usr/bin/env node
// Test stand-in for systemctl on the getting-started test's hosts, which have no systemd. It acts out
// what systemd does for net2ban's units: `daemon-reload` does nothing; `enable --now` and `start` run
// the unit's ExecStart as its User/Group with its ambient capabilities, bounding set and
// NoNewPrivileges (through setpriv), with systemd's PATH, in /, output to a log file. Unlike Type=exec
// it then waits for the daemon's "started" log line, so the next step does not race the start-up.
// The sandboxing settings (ProtectSystem=, ...) are not acted out: systemd-analyze checks those.
import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const state = process.env.N2B_TEST_STATE;
if (!state) {
  console.error("systemctl (test stand-in): N2B_TEST_STATE is not set");
  process.exit(1);
}

const now = process.argv.includes("--now");
const args = process.argv.slice(2).filter((a) => a !== "--now" && a !== "--no-pager");
const [verb, ...units] = args;

function service(unitName) {
  const name = unitName.endsWith(".service") ? unitName : `${unitName}.service`;
  const path = join("/etc/systemd/system", name);
  if (!existsSync(path)) {
    console.error(`Failed to enable unit: Unit file ${name} does not exist.`);
    process.exit(1);
  }
  const settings = new Map();
  for (const raw of readFileSync(path, "utf8").replace(/\\\n/g, " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";") || line.startsWith("[")) continue;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  const last = (key) => settings.get(key)?.at(-1);
  const caps = (key) => {
    let list = [];
    for (const value of settings.get(key) ?? []) {
      list =
        value === ""
          ? []
          : [...list, ...value.split(/\s+/).map((c) => c.replace(/^CAP_/i, "").toLowerCase())];
    }
    return list;
  };
  return { name, user: last("User"), group: last("Group"), exec: last("ExecStart"), caps, last };
}

function resolveCommand(word) {
  if (word.startsWith("/")) return word;
  for (const dir of SYSTEMD_PATH.split(":")) if (existsSync(join(dir, word))) return join(dir, word);
  console.error(`Unable to locate executable '${word}': No such file or directory`);
  process.exit(1);
}

async function start(unitName) {
  const unit = service(unitName);
  const [command, ...commandArgs] = unit.exec.split(/\s+/);
  const set = (list) => ["-all", ...list.map((c) => `+${c}`)].join(",");
  const ambient = unit.caps("AmbientCapabilities");
  const setprivArgs = [
    `--reuid=${unit.user}`,
    `--regid=${unit.group ?? unit.user}`,
    "--init-groups",
    `--inh-caps=${set(ambient)}`,
    `--ambient-caps=${set(ambient)}`,
    `--bounding-set=${set(unit.caps("CapabilityBoundingSet"))}`,
    ...(unit.last("NoNewPrivileges") === "yes" ? ["--no-new-privs"] : []),
    "--",
    resolveCommand(command),
    ...commandArgs,
  ];
  const base = join(state, `${hostname()}-${unit.name}`);
  const log = `${base}.log`;
  const out = openSync(log, "a");
  const child = spawn("setpriv", setprivArgs, {
    cwd: "/",
    detached: true,
    stdio: ["ignore", out, out],
    env: { PATH: SYSTEMD_PATH, LANG: "C.UTF-8" },
  });
  writeFileSync(`${base}.pid`, `${child.pid}\n`);
  let exited;
  child.once("exit", (code, signal) => {
    exited = `${code ?? signal}`;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = readFileSync(log, "utf8");
    if (/"msg":"[^"]*started/.test(text)) break;
    if (exited !== undefined || Date.now() > deadline) {
      console.error(
        `${unit.name}: ${exited === undefined ? "did not start in 30 s" : `exited (${exited})`}\n${text}`,
      );
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.unref();
}

if (verb === "daemon-reload") process.exit(0);
// Enabling alone only matters at the next boot, which these hosts never have.
if (verb === "enable" && !now) process.exit(0);
if (verb === "enable" || verb === "start") {
  for (const unit of units) await start(unit);
  process.exit(0);
}
console.error(`systemctl (test stand-in): ${verb} is not acted out`);
process.exit(1);
