// A throwaway net2ban fleet on this machine: a config, a server and N agents as real processes.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import amqp from "amqplib";

export interface FleetOptions {
  /** How many agents (named agent1..agentN). */
  agents: number;
  /** AMQP URL of the broker (default amqp://guest:guest@127.0.0.1:5672/). */
  brokerUrl?: string;
  /** Protocol per agent (default 2 for all); index 0 is agent1. */
  protocols?: (1 | 2)[];
  /** Protocol between net2banctl and the server (default 2). */
  serverProtocol?: 1 | 2;
  validWindowSeconds?: number;
  rounds?: number;
  /** Extra `[global]` lines, e.g. { prefetch: "32" }. */
  global?: Record<string, string>;
  /**
   * Extra lines per section ("server", "agent1", ...), e.g. a peer's own `url`: written in the server
   * config, and an agent's own section also in that agent's config.
   */
  sections?: Record<string, Record<string, string>>;
  label?: string;
}

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [key: string]: unknown;
}

export interface FleetProcess {
  name: string;
  child: ChildProcess;
  lines: LogLine[];
  stderr: string[];
  exited: Promise<number | null>;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The demo action: every ban and unban appends a line to the agent's own file. */
export function demoActionFile(banLog: string): string {
  return [
    "# net2ban demo action: appends each ban and unban to a file",
    "[Definition]",
    "actionstart = touch <banlog>",
    "actionban = echo ban <ip> >> <banlog>",
    "actionunban = echo unban <ip> >> <banlog>",
    "",
    "[Init]",
    `banlog = ${banLog}`,
    "",
  ].join("\n");
}

const key = () => randomBytes(20).toString("hex");

/** The file a package's `bin` entry names, as an installed package would run it. */
export function binPath(pkg: string, bin: string): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve(`${pkg}/package.json`);
  const bins = (require(manifest) as { bin?: Record<string, string> }).bin ?? {};
  const file = bins[bin];
  if (file === undefined) throw new Error(`${pkg} has no bin "${bin}"`);
  return join(dirname(manifest), file);
}

export class Fleet {
  readonly dir: string;
  readonly prefix: string;
  readonly brokerUrl: string;
  readonly agentNames: string[];
  readonly serverConfigPath: string;
  readonly #processes = new Map<string, FleetProcess>();
  readonly #options: FleetOptions;

  private constructor(dir: string, prefix: string, options: FleetOptions) {
    this.dir = dir;
    this.prefix = prefix;
    this.brokerUrl = options.brokerUrl ?? "amqp://guest:guest@127.0.0.1:5672/";
    this.agentNames = Array.from({ length: options.agents }, (_, i) => `agent${i + 1}`);
    this.serverConfigPath = join(dir, "net2ban.cfg");
    this.#options = options;
  }

  /** Writes the server config, one exported config and actions dir per agent. Starts nothing. */
  static async create(options: FleetOptions): Promise<Fleet> {
    const label = options.label ?? "fleet";
    const dir = await mkdtemp(join(tmpdir(), `net2ban-${label}-`));
    const prefix = `n2b_${label}_${randomBytes(4).toString("hex")}`;
    const fleet = new Fleet(dir, prefix, options);
    await fleet.#writeConfigs();
    return fleet;
  }

  #globalLines(mode: "server" | "client", actionsDir: string, stateDir: string): string[] {
    const o = this.#options;
    const lines = [
      "[global]",
      `url = ${this.brokerUrl}`,
      `rounds = ${o.rounds ?? 12000}`,
      `secret = ${this.#secret}`,
      `mode = ${mode}`,
      `valid_wtime = ${o.validWindowSeconds ?? 3600}`,
      `authkey = ${this.#authkey}`,
      `queue_prefix = ${this.prefix}_`,
      `actions_dir = ${actionsDir}`,
      `state_dir = ${stateDir}`,
    ];
    for (const [k, v] of Object.entries(o.global ?? {})) lines.push(`${k} = ${v}`);
    return lines;
  }

  readonly #secret = key();
  readonly #authkey = key();
  readonly #keys = new Map<string, string>();

  agentDir(name: string): string {
    return join(this.dir, name);
  }

  banLog(name: string): string {
    return join(this.agentDir(name), "bans.log");
  }

  agentConfigPath(name: string): string {
    return join(this.agentDir(name), "net2ban.cfg");
  }

  get inputQueue(): string {
    return `${this.prefix}_input`;
  }

  async #writeConfigs(): Promise<void> {
    const o = this.#options;
    const server = [
      ...this.#globalLines("server", join(this.dir, "server-actions"), join(this.dir, "server-state")),
      "",
      "[server]",
      `input = ${this.inputQueue}`,
      `key = ${key()}`,
      `protocol = ${o.serverProtocol ?? 2}`,
      ...this.#sectionLines("server"),
      "",
      "[keygen]",
      "keylen = 40",
      "",
    ];
    for (const [i, name] of this.agentNames.entries()) {
      const agentKey = key();
      this.#keys.set(name, agentKey);
      const protocol = o.protocols?.[i] ?? 2;
      server.push(
        `[${name}]`,
        `key = ${agentKey}`,
        `protocol = ${protocol}`,
        ...this.#sectionLines(name),
        "",
      );
      const actionsDir = join(this.agentDir(name), "actions");
      await mkdir(actionsDir, { recursive: true });
      await mkdir(join(this.agentDir(name), "state"), { recursive: true });
      await writeFile(join(actionsDir, "net2ban-demo.conf"), demoActionFile(this.banLog(name)));
      const client = [
        ...this.#globalLines("client", actionsDir, join(this.agentDir(name), "state")),
        "",
        `[${name}]`,
        `key = ${agentKey}`,
        `protocol = ${protocol}`,
        ...this.#sectionLines(name),
        "",
      ];
      await writeFile(this.agentConfigPath(name), client.join("\n"), { mode: 0o600 });
    }
    await writeFile(this.serverConfigPath, server.join("\n"), { mode: 0o600 });
  }

  #sectionLines(section: string): string[] {
    return Object.entries(this.#options.sections?.[section] ?? {}).map(([k, v]) => `${k} = ${v}`);
  }

  #spawn(name: string, bin: string, args: string[], prefix: readonly string[] = []): FleetProcess {
    // A prefix such as `ip netns exec h1` must exec (not fork) node, so that signals reach the daemon.
    const [command = process.execPath, ...rest] = [...prefix, process.execPath, bin, ...args];
    const child = spawn(command, rest, { stdio: ["ignore", "pipe", "pipe"] });
    const proc: FleetProcess = {
      name,
      child,
      lines: [],
      stderr: [],
      exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
    };
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        proc.lines.push(JSON.parse(line) as LogLine);
      } catch {
        proc.lines.push({ level: 30, time: Date.now(), msg: line });
      }
    });
    createInterface({ input: child.stderr! }).on("line", (line) => proc.stderr.push(line));
    this.#processes.set(name, proc);
    return proc;
  }

  process(name: string): FleetProcess {
    const proc = this.#processes.get(name);
    if (!proc) throw new Error(`fleet: no process "${name}"`);
    return proc;
  }

  async startServer(): Promise<FleetProcess> {
    const proc = this.#spawn("server", binPath("@net2ban/server", "net2ban-server"), [
      "--config",
      this.serverConfigPath,
    ]);
    await this.waitForLog("server", (l) => l.msg.startsWith("net2ban server started"), 20_000);
    return proc;
  }

  /**
   * Starts agent `name`; `prefix` runs it under another command, e.g. `["ip", "netns", "exec", "h1"]`;
   * `bin` replaces the workspace's net2ban-agent (e.g. a bundle an unprivileged user can read).
   */
  async startAgent(
    name: string,
    options: { prefix?: readonly string[]; bin?: string } = {},
  ): Promise<FleetProcess> {
    const proc = this.#spawn(
      name,
      options.bin ?? binPath("@net2ban/agent", "net2ban-agent"),
      ["--config", this.agentConfigPath(name)],
      options.prefix,
    );
    await this.waitForLog(name, (l) => l.msg.startsWith(`net2ban agent ${name} started`), 20_000);
    return proc;
  }

  async startAll(): Promise<void> {
    await this.startServer();
    await Promise.all(this.agentNames.map((name) => this.startAgent(name)));
  }

  /** Stops one process with `signal` (SIGTERM = graceful) and waits for it to exit. */
  async stop(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const proc = this.#processes.get(name);
    if (!proc) return null;
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
    const code = await proc.exited;
    this.#processes.delete(name);
    return code;
  }

  /** Runs net2banctl against the server config (or `config`) and collects its output. */
  async ctl(args: string[], config = this.serverConfigPath): Promise<CommandResult> {
    const child = spawn(
      process.execPath,
      [binPath("@net2ban/ctl", "net2banctl"), "--config", config, ...args],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    return { code, stdout, stderr };
  }

  /** Waits until a log line of `name` matches; the error names the process and its last lines. */
  async waitForLog(name: string, match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const proc = this.process(name);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = proc.lines.find(match);
      if (found) return found;
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        throw new Error(
          `fleet: ${name} exited (${proc.child.exitCode ?? proc.child.signalCode}): ${this.#tail(proc)}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`fleet: timed out waiting for ${name}: ${this.#tail(proc)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  #tail(proc: FleetProcess): string {
    const out = proc.lines.slice(-5).map((l) => l.msg);
    return JSON.stringify({ stdout: out, stderr: proc.stderr.slice(-5) });
  }

  /** Lines of an agent's ban log (its action's own side effect). */
  async banLines(name: string): Promise<string[]> {
    try {
      return (await readFile(this.banLog(name), "utf8")).split("\n").filter((l) => l !== "");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  }

  /** Polls until `line` appears in an agent's ban log; returns when it was seen (ms since epoch). */
  async waitForBanLine(name: string, line: string, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.banLines(name)).includes(line)) return Date.now();
      if (Date.now() > deadline)
        throw new Error(`fleet: ${name} never logged "${line}" in ${this.banLog(name)}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Stops every process, deletes the fleet's queues and its directory. */
  async close(): Promise<void> {
    await Promise.all([...this.#processes.keys()].map((name) => this.stop(name)));
    // The agents' results queue (ban state) too: the server declares it.
    const queues = [
      this.inputQueue,
      `${this.prefix}_results`,
      ...this.agentNames.map((n) => `${this.prefix}_${n}`),
    ];
    const connection = await amqp.connect(this.brokerUrl).catch(() => undefined);
    try {
      // No broker (a test of an unreachable one): there is nothing to delete.
      if (connection === undefined) return;
      const channel = await connection.createChannel();
      for (const queue of queues) {
        await channel.deleteQueue(queue);
        await channel.deleteQueue(`${queue}.dead`);
      }
      await channel.close();
      await connection.close();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * Bundles net2ban-agent (built dist and its dependencies) into one file in `dir`, so that a user who
 * cannot read the checkout (a clone under a 0700 directory, as CI makes) can still run it.
 */
export async function bundleAgent(dir: string): Promise<string> {
  const { build } = await import("esbuild");
  const entry = join(dir, "agent-entry.mjs");
  const cli = join(
    dirname(createRequire(import.meta.url).resolve("@net2ban/agent/package.json")),
    "dist",
    "cli.js",
  );
  await writeFile(
    entry,
    `import { run } from ${JSON.stringify(cli)};\nrun(process.argv.slice(2)).then((code) => { process.exitCode = code; });\n`,
  );
  const outfile = join(dir, "net2ban-agent.cjs");
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // ESM code asks for import.meta.url: in the CommonJS bundle that is the bundle's own URL.
    banner: { js: 'var __n2bImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: { "import.meta.url": "__n2bImportMetaUrl" },
    logLevel: "error",
  });
  await rm(entry);
  return outfile;
}

/** Resolves when the broker at `url` accepts a connection; rejects with the connection error otherwise. */
export async function probeBroker(url: string, timeoutMs = 3000): Promise<void> {
  const connection = await amqp.connect(url, { timeout: timeoutMs });
  await connection.close();
}
