// A RabbitMQ cluster of private nodes for failover tests (machine.md: join_cluster, the rabbitmq user's
// shared Erlang cookie). Each node is a startPrivateNode; stopCluster stops them all and removes their dirs.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand, tail } from "./exec.js";
import {
  killPrivateNode,
  type PrivateNode,
  type PrivateNodeOptions,
  restartPrivateNode,
  startPrivateNode,
  stopPrivateNode,
} from "./private-node.js";

export interface PrivateClusterOptions {
  /** Node names, e.g. ["n2bc1a", "n2bc2a", "n2bc3a"]; the first is the one the others join. */
  names: readonly string[];
  /** AMQP ports, one per name (default: free ones). */
  ports?: readonly number[];
  /** Erlang distribution ports, one per name (default: free ones). */
  distPorts?: readonly number[];
  /** Extra rabbitmq.conf lines for every node. */
  config?: readonly string[];
  /** Limit for each node's start (default 120 s: three nodes start at once on two cores). */
  startTimeoutMs?: number;
}

export interface PrivateCluster {
  readonly nodes: readonly PrivateNode[];
  /** One AMQP URL per node, in the order of `names`. */
  readonly urls: readonly string[];
}

async function rabbitmqctl(node: PrivateNode, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const result = await runCommand("rabbitmqctl", ["-n", node.name, ...args], { timeoutMs });
  if (!result.ok) {
    throw new Error(
      `rabbitmqctl -n ${node.name} ${args.join(" ")} failed (${result.failure}): ${tail(result.stderr || result.stdout, 5)}`,
    );
  }
  return result.stdout;
}

/**
 * Starts the nodes (in parallel), joins every node to the first, and waits until all are running
 * members. On any failure every node started so far is stopped and removed before the error is thrown.
 */
export async function startCluster(options: PrivateClusterOptions): Promise<PrivateCluster> {
  const { names } = options;
  if (!Array.isArray(names) || names.length < 1)
    throw new TypeError(`"options.names" expected a non-empty array of node names`);
  for (const [key, list] of [
    ["ports", options.ports],
    ["distPorts", options.distPorts],
  ] as const) {
    if (list !== undefined && list.length !== names.length)
      throw new TypeError(`"options.${key}" expected ${names.length} ports, got ${list.length}`);
  }
  const settled = await Promise.allSettled(
    names.map((name, i) => {
      const nodeOptions: PrivateNodeOptions = {
        name,
        startTimeoutMs: options.startTimeoutMs ?? 120_000,
        ...(options.ports?.[i] === undefined ? {} : { port: options.ports[i] }),
        ...(options.distPorts?.[i] === undefined ? {} : { distPort: options.distPorts[i] }),
        ...(options.config === undefined ? {} : { config: options.config }),
      };
      return startPrivateNode(nodeOptions);
    }),
  );
  const nodes = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = settled.find((s) => s.status === "rejected");
  if (failed !== undefined) {
    await Promise.allSettled(nodes.map((node) => stopPrivateNode(node)));
    throw failed.reason;
  }
  const cluster: PrivateCluster = { nodes, urls: nodes.map((node) => node.url) };
  try {
    const [first, ...others] = nodes;
    // One at a time: two nodes joining at once can race on the first node's schema.
    for (const node of others) {
      await rabbitmqctl(node, ["stop_app"]);
      await rabbitmqctl(node, ["join_cluster", first!.nodename]);
      await rabbitmqctl(node, ["start_app"]);
    }
    for (const node of nodes) await rabbitmqctl(node, ["await_startup", "--timeout", "60"], 90_000);
    const running = await runningNodes(first!);
    const missing = nodes.filter((node) => !running.includes(node.nodename));
    if (missing.length > 0)
      throw new Error(`cluster formed without ${missing.map((n) => n.nodename).join(", ")}`);
  } catch (error) {
    await stopCluster(cluster);
    throw error;
  }
  return cluster;
}

/** The running members as `node` sees them (`rabbitmqctl cluster_status`). */
export async function runningNodes(node: PrivateNode): Promise<string[]> {
  const status = JSON.parse(await rabbitmqctl(node, ["cluster_status", "--formatter", "json"])) as {
    running_nodes?: unknown;
  };
  return Array.isArray(status.running_nodes) ? status.running_nodes.map(String) : [];
}

/**
 * Whether stopping `node` now would leave some quorum queue without a majority
 * (`rabbitmq-diagnostics check_if_node_is_quorum_critical`): false once the other members' replicas have
 * caught up, so an operator (or a test) may take it down.
 */
export async function isQuorumCritical(node: PrivateNode): Promise<boolean> {
  const result = await runCommand(
    "rabbitmq-diagnostics",
    ["-n", node.name, "check_if_node_is_quorum_critical"],
    { timeoutMs: 60_000 },
  );
  return !result.ok;
}

/** SIGKILL of one member: a crash, as a power loss would be. */
export function killClusterNode(node: PrivateNode): Promise<void> {
  return killPrivateNode(node);
}

/** Starts a killed member again on its directory; it rejoins the cluster it belonged to. */
export async function restartClusterNode(cluster: PrivateCluster, node: PrivateNode): Promise<void> {
  await restartPrivateNode(node);
  const peers = cluster.nodes.filter((other) => other !== node);
  if (peers.length === 0) return;
  const deadline = Date.now() + node.startTimeoutMs;
  for (;;) {
    // Any live peer will do (another member may be down on purpose).
    for (const peer of peers) {
      const running = await runningNodes(peer).catch(() => undefined);
      if (running?.includes(node.nodename)) return;
    }
    if (Date.now() > deadline) throw new Error(`${node.nodename} restarted but did not rejoin the cluster`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * What an operator would look at when a cluster test fails: the queues (type, leader, online members,
 * depth) as a live member sees them, and the last lines of every member's log.
 */
export async function describeCluster(cluster: PrivateCluster): Promise<string> {
  const parts: string[] = [];
  for (const node of cluster.nodes) {
    const queues = await runCommand(
      "rabbitmqctl",
      ["-n", node.name, "list_queues", "name", "type", "leader", "online", "messages", "consumers"],
      { timeoutMs: 20_000 },
    );
    if (queues.ok) {
      parts.push(`queues as ${node.nodename} sees them:\n${queues.stdout.trim()}`);
      break;
    }
  }
  for (const node of cluster.nodes) {
    let log = "(no log file)";
    try {
      log = tail(await readFile(join(node.dir, "log", `${node.nodename}.log`), "utf8"), 25);
    } catch {
      // not started, or already removed
    }
    parts.push(`log of ${node.nodename}:\n${log}`);
  }
  return parts.join("\n\n");
}

/** Stops every member (gracefully, else SIGKILL) and removes their directories; safe to call twice. */
export async function stopCluster(cluster: PrivateCluster): Promise<void> {
  const results = await Promise.allSettled(cluster.nodes.map((node) => stopPrivateNode(node)));
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}
