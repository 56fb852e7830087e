// Private RabbitMQ nodes for fault tests (kill -9, restart) that never touch the shared node on 5672.
// Follows /work/shared/notes/machine.md: a temp dir owned by rabbitmq, its own config file pinning the
// port (the Debian config pins 5672), `rabbitmqctl -n NAME await_startup`. Needs root.

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand, tail } from "./exec.js";
import { sweepOrphanedNodes, writeOwner } from "./orphans.js";
import { freePort } from "./ports.js";
import { sleep, waitFor } from "./wait.js";

export interface PrivateNodeOptions {
  /** Erlang short node name (default `n2bt<random>`); must be unique on the machine. */
  name?: string;
  /** AMQP port (default: a free one). */
  port?: number;
  /** Erlang distribution port (default: a free one). */
  distPort?: number;
  /** Limit for start and restart (default 90 s). */
  startTimeoutMs?: number;
  /** Extra rabbitmq.conf lines; `{dir}` is replaced by the node's directory (for TLS files). */
  config?: readonly string[];
  /** Files written into the node's directory before it starts (e.g. certificates). */
  files?: Readonly<Record<string, string | Buffer>>;
}

export interface PrivateNode {
  readonly name: string;
  /** `name@host`, as rabbitmqctl shows it. */
  readonly nodename: string;
  readonly port: number;
  readonly distPort: number;
  /** `amqp://guest:guest@127.0.0.1:<port>/` (guest may log in over loopback on this node). */
  readonly url: string;
  /** The node's directory (mnesia, logs, config); removed by stopPrivateNode. */
  readonly dir: string;
  readonly startTimeoutMs: number;
}

const live = new Map<string, PrivateNode>();
let exitHookInstalled = false;
/** One sweep at a time: the nodes of a cluster start together and would all go after the same orphans. */
let sweeping: Promise<void> | null = null;

function sweepOnce(): Promise<void> {
  sweeping ??= sweepOrphanedNodes()
    .then((report) => {
      for (const line of report.failures)
        process.stderr.write(`test-utils: could not clean up an orphaned RabbitMQ node: ${line}\n`);
    })
    .finally(() => {
      sweeping = null;
    });
  return sweeping;
}

/** If a test forgets stopPrivateNode (or crashes), the node is killed and its directory removed at exit. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const node of live.values()) {
      const pid = readPidSync(node);
      if (pid !== undefined && isNodeProcess(pid, node)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      rmSync(node.dir, { recursive: true, force: true });
    }
  });
}

function nodeEnv(node: PrivateNode): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_DIST_PORT: String(node.distPort),
    RABBITMQ_CONFIG_FILE: join(node.dir, "rabbitmq.conf"),
    RABBITMQ_MNESIA_BASE: join(node.dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(node.dir, "log"),
    RABBITMQ_PID_FILE: join(node.dir, "pid"),
  };
}

function readPidSync(node: PrivateNode): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(node.dir, "pid"), "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Guards every kill: the pid must still be a beam process started for this node. The node name is not
 * on the beam command line, but the environment it was started with names our pid file.
 */
function isNodeProcess(pid: number, node: PrivateNode): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!cmdline.includes("beam")) return false;
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    return environ.includes(`RABBITMQ_PID_FILE=${join(node.dir, "pid")}`) && !isZombie(pid);
  } catch {
    return false;
  }
}

async function logTail(node: PrivateNode): Promise<string> {
  try {
    return tail(await readFile(join(node.dir, "log", `${node.nodename}.log`), "utf8"), 12);
  } catch {
    return "(no log file)";
  }
}

async function launch(node: PrivateNode): Promise<void> {
  // RabbitMQ sizes its file-handle budget from the soft limit, and `su` (in Debian's wrapper) resets it
  // to 1024: with more queues than that, recovery after a crash stalls. So su is called here as the
  // wrapper does, with the limit raised to the hard one inside.
  const direct = "/usr/lib/rabbitmq/bin/rabbitmq-server";
  const started = existsSync(direct)
    ? await runCommand(
        "su",
        [
          "rabbitmq",
          "-s",
          "/bin/sh",
          "-c",
          `cd /var/lib/rabbitmq && ulimit -n "$(ulimit -Hn)" && exec ${direct} -detached`,
        ],
        { timeoutMs: 30_000, env: nodeEnv(node) },
      )
    : await runCommand("rabbitmq-server", ["-detached"], { timeoutMs: 30_000, env: nodeEnv(node) });
  if (!started.ok) {
    throw new Error(
      `rabbitmq-server -detached for ${node.nodename} failed (${started.failure}): ${tail(started.stderr || started.stdout, 5)}`,
    );
  }
  const deadline = Date.now() + node.startTimeoutMs;
  let last = "";
  // await_startup fails at once until the node has registered with epmd, so poll it.
  while (Date.now() < deadline) {
    const remainingS = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const result = await runCommand(
      "rabbitmqctl",
      ["-n", node.name, "await_startup", "--timeout", String(Math.min(remainingS, 30))],
      { timeoutMs: (Math.min(remainingS, 30) + 15) * 1000 },
    );
    if (result.ok) return;
    last = tail(result.stderr || result.stdout, 3);
    await sleep(300);
  }
  throw new Error(
    `private RabbitMQ node ${node.nodename} (port ${node.port}) did not start within ${node.startTimeoutMs} ms; ` +
      `rabbitmqctl said: ${last}\nnode log:\n${await logTail(node)}`,
  );
}

/**
 * Starts a private node and waits until it accepts connections. Call stopPrivateNode in afterAll.
 * First stops and removes the nodes of test runs that were killed (sweepOrphanedNodes).
 */
export async function startPrivateNode(options: PrivateNodeOptions = {}): Promise<PrivateNode> {
  const name = options.name ?? `n2bt${randomBytes(4).toString("hex")}`;
  if (!/^[A-Za-z0-9_-]+$/.test(name))
    throw new TypeError(`"name" expected letters, digits, - or _, got ${JSON.stringify(name)}`);
  if (live.has(name)) throw new Error(`private node ${name} is already running`);
  await sweepOnce();
  const port = options.port ?? (await freePort());
  let distPort = options.distPort ?? (await freePort());
  while (distPort === port) distPort = await freePort();
  const dir = await mkdtemp(join(tmpdir(), `n2b-node-${name}-`));
  const node: PrivateNode = {
    name,
    nodename: `${name}@${hostname().split(".")[0]}`,
    port,
    distPort,
    url: `amqp://guest:guest@127.0.0.1:${port}/`,
    dir,
    startTimeoutMs: options.startTimeoutMs ?? 90_000,
  };
  live.set(name, node);
  installExitHook();
  try {
    // Read by sweepOrphanedNodes in later runs: once this process is gone, so is the node.
    await writeOwner(dir);
    await mkdir(join(dir, "mnesia"));
    await mkdir(join(dir, "log"));
    for (const [file, contents] of Object.entries(options.files ?? {}))
      await writeFile(join(dir, file), contents);
    const config = [
      `listeners.tcp.default = 127.0.0.1:${port}`,
      "loopback_users = none",
      ...(options.config ?? []).map((line) => line.replaceAll("{dir}", dir)),
    ];
    await writeFile(join(dir, "rabbitmq.conf"), `${config.join("\n")}\n`);
    // The server drops to the rabbitmq user, which must own everything it writes.
    const chown = await runCommand("chown", ["-R", "rabbitmq:rabbitmq", dir], { timeoutMs: 10_000 });
    if (!chown.ok) throw new Error(`chown of ${dir} failed (${chown.failure}); private nodes need root`);
    await launch(node);
  } catch (error) {
    await stopPrivateNode(node);
    throw error;
  }
  return node;
}

/** SIGKILL of this node's beam process only (a crash, not a shutdown); waits until it is gone. */
export async function killPrivateNode(node: PrivateNode): Promise<void> {
  const pid = await waitFor(() => readPidSync(node), {
    what: `the pid file of ${node.nodename}`,
    timeoutMs: 10_000,
  });
  if (!isNodeProcess(pid, node))
    throw new Error(`pid ${pid} from ${node.dir}/pid is not the beam of ${node.nodename}`);
  process.kill(pid, "SIGKILL");
  await waitFor(() => !existsSync(`/proc/${pid}`) || isZombie(pid), {
    what: `beam ${pid} of ${node.nodename} to die`,
    timeoutMs: 10_000,
  });
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

/** Starts the node again on the same directory: durable queues and persistent messages come back. */
export async function restartPrivateNode(node: PrivateNode): Promise<void> {
  const pid = readPidSync(node);
  if (pid !== undefined && isNodeProcess(pid, node))
    throw new Error(`${node.nodename} is still running (pid ${pid})`);
  await launch(node);
}

/** Stops the node (gracefully, else SIGKILL) and removes its directory; safe to call twice. */
export async function stopPrivateNode(node: PrivateNode): Promise<void> {
  const pid = readPidSync(node);
  if (pid !== undefined && isNodeProcess(pid, node)) {
    const stopped = await runCommand("rabbitmqctl", ["-n", node.name, "stop", join(node.dir, "pid")], {
      timeoutMs: 30_000,
    });
    if (!stopped.ok && isNodeProcess(pid, node)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
    await waitFor(() => !isNodeProcess(pid, node), { what: `${node.nodename} to stop`, timeoutMs: 15_000 });
  }
  await rm(node.dir, { recursive: true, force: true });
  live.delete(node.name);
}
