// Test hosts made of Linux network namespaces on one bridge, each with its own firewall and loopback,
// and a relay that lets daemons inside them reach the broker on the root namespace's 127.0.0.1.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** Every namespace of a test network is named `n2bfw-<pid>-<id>-<node>`; the pid lets a later run sweep leftovers. */
const NETNS_PREFIX = "n2bfw-";
const NODE_NAME = /^[a-z][a-z0-9]{0,11}$/;

export class NetnsError extends Error {
  override name = "NetnsError";
}

export interface NetnsCommandResult {
  ok: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; never rejects (the caller decides whether a failure matters). */
export function runQuiet(
  file: string,
  args: readonly string[],
  timeoutMs = 15_000,
): Promise<NetnsCommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      resolve({
        ok: error === null,
        code,
        stdout,
        stderr: error !== null && stderr === "" ? error.message : stderr,
      });
    });
  });
}

/** Like runQuiet, but a failure throws NetnsError quoting the command and its stderr. */
export async function run(file: string, args: readonly string[], timeoutMs = 15_000): Promise<string> {
  const result = await runQuiet(file, args, timeoutMs);
  if (!result.ok) {
    throw new NetnsError(
      `${[file, ...args].join(" ")} failed (exit ${result.code ?? "none"}): ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

/** Why this process cannot build test hosts (not root, a tool missing), or undefined when it can. */
export async function netnsUnavailableReason(tools: readonly string[] = ["ip"]): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return `network namespaces need root (running as uid ${process.getuid?.()})`;
  for (const tool of tools) {
    const found = await runQuiet("sh", ["-c", `command -v ${tool}`]);
    if (!found.ok) return `${tool} is not installed (run scripts/setup-host.sh)`;
  }
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Namespaces of test networks whose process is gone (a crashed run): deleted, and their names returned. */
export async function sweepStaleNetworks(): Promise<string[]> {
  const listed = await run("ip", ["netns", "list"]);
  const stale = listed
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => {
      const match = /^n2bfw-(\d+)-/.exec(name);
      return match !== null && !pidAlive(Number(match[1]));
    });
  for (const name of stale) await runQuiet("ip", ["netns", "del", name]);
  return stale;
}

export interface NetworkNode {
  /** The role in the test: h1, h2, attacker, ... */
  name: string;
  /** The namespace's name for `ip netns exec`. */
  netns: string;
  /** Its IPv4 address on the bridge. */
  address: string;
}

export interface TestNetworkOptions {
  /** Roles, each one namespace with one address on the shared bridge (lower case letters and digits). */
  nodes: readonly string[];
  /** First three octets of the /24 the nodes share; addresses count up from .11 (default 10.77.0). */
  subnet?: string;
}

export interface ProbeResult {
  target: string;
  /** The listener's greeting when the connection worked. */
  greeting?: string;
  /** ECONNREFUSED, ETIMEDOUT, ... when it did not. */
  error?: string;
}

// Run with `node -e` inside a namespace: process.argv[1..] are the arguments.
/** Listens on 127.0.0.1:<port> in the namespace and pipes each connection to the relay's unix socket. */
const FORWARDER = `
const net = require("net");
const [socketPath, port] = process.argv.slice(1);
const server = net.createServer((inner) => {
  const outer = net.connect(socketPath);
  inner.pipe(outer); outer.pipe(inner);
  const close = () => { inner.destroy(); outer.destroy(); };
  inner.on("error", close); outer.on("error", close); inner.on("close", close); outer.on("close", close);
});
server.listen(Number(port), "127.0.0.1", () => console.log("ready"));
`;

/** A TCP service that greets every connection with a fixed line and closes it. */
const LISTENER = `
const [port, greeting] = process.argv.slice(1);
require("net").createServer((s) => { s.on("error", () => {}); s.end(greeting + "\\n"); })
  .listen(Number(port), "0.0.0.0", () => console.log("ready"));
`;

/** Connects to every host:port given, prints one JSON result per target. */
const PROBE = `
const net = require("net");
const timeoutMs = Number(process.argv[1]);
const one = (target) => new Promise((resolve) => {
  const at = target.lastIndexOf(":");
  const socket = net.connect(Number(target.slice(at + 1)), target.slice(0, at));
  let data = "";
  const done = (result) => { socket.destroy(); resolve({ target, ...result }); };
  socket.setTimeout(timeoutMs, () => done({ error: "ETIMEDOUT" }));
  socket.on("data", (d) => { data += d; });
  socket.on("end", () => done({ greeting: data.trim() }));
  socket.on("error", (e) => done({ error: e.code || e.message }));
});
Promise.all(process.argv.slice(2).map(one)).then((r) => console.log(JSON.stringify(r)));
`;

/**
 * A bridge in its own namespace and one namespace per node, each with a veth on the bridge. Nothing is
 * added to the root namespace: no interface, address or firewall rule. `destroy()` stops every process
 * started here and deletes the namespaces (their interfaces and firewall rules go with them).
 */
export class TestNetwork {
  readonly id: string;
  readonly nodes: ReadonlyMap<string, NetworkNode>;
  readonly #lan: string;
  readonly #children = new Set<ChildProcess>();
  readonly #relays: Server[] = [];
  readonly #relaySockets = new Set<Socket>();
  #dir: string | undefined;

  private constructor(id: string, lan: string, nodes: Map<string, NetworkNode>) {
    this.id = id;
    this.#lan = lan;
    this.nodes = nodes;
  }

  static async create(options: TestNetworkOptions): Promise<TestNetwork> {
    const subnet = options.subnet ?? "10.77.0";
    if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet)) {
      throw new TypeError(
        `"options.subnet" expected three octets like 10.77.0, got ${JSON.stringify(subnet)}`,
      );
    }
    if (options.nodes.length === 0 || options.nodes.length > 200) {
      throw new TypeError(`"options.nodes" expected 1 to 200 names, got ${options.nodes.length}`);
    }
    for (const name of options.nodes) {
      if (!NODE_NAME.test(name))
        throw new TypeError(`"options.nodes" expected names matching ${NODE_NAME}, got ${name}`);
    }
    if (new Set(options.nodes).size !== options.nodes.length)
      throw new TypeError(`"options.nodes" has duplicates`);
    const id = `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString("hex")}`;
    const nodes = new Map<string, NetworkNode>();
    options.nodes.forEach((name, i) => {
      nodes.set(name, { name, netns: `${id}-${name}`, address: `${subnet}.${11 + i}` });
    });
    const network = new TestNetwork(id, `${id}-lan`, nodes);
    try {
      await network.#build();
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  async #build(): Promise<void> {
    const lan = this.#lan;
    await run("ip", ["netns", "add", lan]);
    await run("ip", ["-n", lan, "link", "set", "lo", "up"]);
    await run("ip", ["-n", lan, "link", "add", "br0", "type", "bridge"]);
    await run("ip", ["-n", lan, "link", "set", "br0", "up"]);
    for (const node of this.nodes.values()) {
      await run("ip", ["netns", "add", node.netns]);
      await run("ip", ["-n", node.netns, "link", "set", "lo", "up"]);
      // Created inside the node's namespace, its peer moved straight to the bridge's: never in the root one.
      await run("ip", [
        "-n",
        node.netns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        node.name,
        "netns",
        lan,
      ]);
      await run("ip", ["-n", lan, "link", "set", node.name, "master", "br0", "up"]);
      await run("ip", ["-n", node.netns, "addr", "add", `${node.address}/24`, "dev", "eth0"]);
      await run("ip", ["-n", node.netns, "link", "set", "eth0", "up"]);
    }
  }

  node(name: string): NetworkNode {
    const node = this.nodes.get(name);
    if (node === undefined) throw new NetnsError(`test network: no node "${name}"`);
    return node;
  }

  /** The command prefix that runs a program inside node `name`. */
  prefix(name: string): string[] {
    return ["ip", "netns", "exec", this.node(name).netns];
  }

  /** Runs a command inside node `name`; throws NetnsError when it fails. */
  exec(name: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
    const [file = "ip", ...args] = [...this.prefix(name), ...argv];
    return run(file, args, timeoutMs);
  }

  /** Starts a long-running node script inside `name`; resolves once it printed "ready". */
  async #startScript(name: string, script: string, args: readonly string[]): Promise<ChildProcess> {
    const [file = "ip", ...rest] = [...this.prefix(name), process.execPath, "-e", script, ...args];
    const child = spawn(file, rest, { stdio: ["ignore", "pipe", "pipe"] });
    this.#children.add(child);
    child.once("exit", () => this.#children.delete(child));
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new NetnsError(`${name}: no "ready" within 10 s: ${stderr}`)),
        10_000,
      );
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line === "ready") {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new NetnsError(`${name}: script exited (${code}) before it was ready: ${stderr}`));
      });
    });
    return child;
  }

  /**
   * Makes the broker at `brokerUrl` (reachable from the root namespace) answer on the same host and port
   * inside each of `names`. A namespace has its own loopback, and the shared broker listens on 127.0.0.1
   * only: inside, a forwarder listens on that address and pipes each connection through a unix socket
   * (file system, shared by all namespaces) to this process, which connects to the broker. The broker
   * sees a loopback client, so the guest user works; the daemons' config needs no change.
   */
  async relayBroker(brokerUrl: string, names: readonly string[]): Promise<void> {
    const url = new URL(brokerUrl);
    const host = url.hostname;
    const port = Number(url.port || 5672);
    if (host !== "127.0.0.1" && host !== "localhost") {
      throw new NetnsError(`relayBroker: the broker must be on this machine's loopback, got ${url.host}`);
    }
    this.#dir ??= await mkdtemp(join(tmpdir(), `${this.id}-`));
    const socketPath = join(this.#dir, `relay-${this.#relays.length}.sock`);
    const relay = createServer((inner) => {
      const outer = connect(port, "127.0.0.1");
      for (const s of [inner, outer]) this.#relaySockets.add(s);
      inner.pipe(outer);
      outer.pipe(inner);
      const close = () => {
        inner.destroy();
        outer.destroy();
        this.#relaySockets.delete(inner);
        this.#relaySockets.delete(outer);
      };
      for (const s of [inner, outer]) {
        s.on("error", close);
        s.on("close", close);
      }
    });
    this.#relays.push(relay);
    await new Promise<void>((resolve, reject) => {
      relay.once("error", reject);
      relay.listen(socketPath, () => resolve());
    });
    for (const name of names) await this.#startScript(name, FORWARDER, [socketPath, String(port)]);
  }

  /** A TCP listener on 0.0.0.0:`port` inside `name` that greets each connection with `greeting`. */
  async listen(name: string, port: number, greeting: string): Promise<void> {
    await this.#startScript(name, LISTENER, [String(port), greeting]);
  }

  /** Connects from inside `from` to each `host:port` at once; each attempt ends after `timeoutMs`. */
  async probe(from: string, targets: readonly string[], timeoutMs = 3000): Promise<ProbeResult[]> {
    const out = await this.exec(
      from,
      [process.execPath, "-e", PROBE, String(timeoutMs), ...targets],
      timeoutMs + 10_000,
    );
    return JSON.parse(out) as ProbeResult[];
  }

  /** Stops every process started here, closes the relays and deletes the namespaces. Safe to call twice. */
  async destroy(): Promise<void> {
    const children = [...this.#children];
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill("SIGTERM");
          }),
      ),
    );
    for (const socket of this.#relaySockets) socket.destroy();
    this.#relaySockets.clear();
    await Promise.all(this.#relays.splice(0).map((relay) => new Promise((resolve) => relay.close(resolve))));
    const failures: string[] = [];
    for (const netns of [...[...this.nodes.values()].map((n) => n.netns), this.#lan]) {
      const listed = await runQuiet("ip", ["netns", "list"]);
      if (!listed.stdout.split("\n").some((line) => line.split(" ")[0] === netns)) continue;
      const deleted = await runQuiet("ip", ["netns", "del", netns]);
      if (!deleted.ok) failures.push(`${netns}: ${deleted.stderr.trim()}`);
    }
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true });
    if (failures.length > 0)
      throw new NetnsError(`test network ${this.id}: could not delete ${failures.join("; ")}`);
  }

  /** Namespaces of this network that still exist (empty after destroy()). */
  async remainingNamespaces(): Promise<string[]> {
    const listed = await run("ip", ["netns", "list"]);
    return listed
      .split("\n")
      .map((line) => line.split(" ")[0] ?? "")
      .filter((name) => name.startsWith(`${this.id}-`));
  }
}
