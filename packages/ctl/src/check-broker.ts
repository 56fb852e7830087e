// The broker half of `net2banctl check-config`: which nodes answer and, for every queue this host's net2ban
// would use, whether it exists with the configured queue_type. A queue of another type is an error
// (exit 2): RabbitMQ cannot change a queue's type, so a daemon would fail on it at every start.
import { readFile } from "node:fs/promises";
import type { Net2banConfig } from "@net2ban/config";
import { EXIT_NOT_SENT, EXIT_OK, EXIT_USAGE } from "@net2ban/runtime";
import type { BrokerInspection, QueueSpec, QueueStatus } from "@net2ban/transport";
import type { CliIo } from "./commands.js";
import { escapeControls, escapeJsonControls } from "./terminal-text.js";

/** What check-config looks at: the login and queues of the server (server config) or of the clients in the file. */
export function brokerCheckPlan(config: Net2banConfig): { urls: string[]; queues: QueueSpec[] } {
  const server = config.server;
  const peers = server === undefined ? config.clients : [server, ...config.clients];
  // The server's own login may declare every queue; a client's may declare its own.
  const owner = server ?? config.clients[0];
  const queues: QueueSpec[] = peers.map((peer) => ({ name: peer.queue, queueType: peer.queueType }));
  // The server declares the agents' results queue with the input queue's type.
  if (server !== undefined)
    queues.splice(1, 0, { name: config.state.resultsQueue, queueType: server.queueType });
  return { urls: owner?.urls ?? config.broker.urls, queues };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** One line per queue for a terminal. */
export function describeQueue(queue: QueueStatus): string {
  const counts =
    queue.messages === undefined
      ? ""
      : `; ${plural(queue.messages, "message")}, ${plural(queue.consumers ?? 0, "consumer")}`;
  switch (queue.existing) {
    case "missing":
      return `queue ${queue.name}: missing (declared as ${queue.configured} when net2ban starts)`;
    case "unavailable":
      return `queue ${queue.name}: unavailable (a classic queue whose node is down)`;
    case "unknown":
      return `queue ${queue.name}: type not checked (${escapeControls(queue.detail ?? "no answer")})`;
    default:
      return queue.matches
        ? `queue ${queue.name}: ${queue.existing}, as configured${counts}`
        : `queue ${queue.name}: ${queue.existing}, but configured ${queue.configured}${counts}`;
  }
}

/** Why a mismatched queue is an error and what to do, one line. */
export function mismatchError(queue: QueueStatus): string {
  const what =
    queue.existing === queue.configured
      ? `exists as a ${queue.existing} queue with other arguments than net2ban declares (${escapeControls(queue.detail ?? "?")})`
      : `exists as a ${queue.existing === "unknown" ? "differently declared" : queue.existing} queue but queue_type is ${queue.configured}`;
  return `queue "${queue.name}" ${what}; RabbitMQ cannot change a queue in place: set queue_type to match, or move the queue (docs/operations.md, "Moving a live fleet from classic to quorum queues")`;
}

/**
 * Runs the broker checks and prints them after `summary` (text) or inside `report` (--json).
 * Exit 0 unless a queue exists with another type or other arguments (2). Nodes that do not answer are
 * reported, not failed on: the file is valid, and the broker may simply be elsewhere or down; with
 * `strict` (monitoring) no node answering is exit 3, as a send that finds the broker down.
 */
export async function checkBroker(
  io: CliIo,
  config: Net2banConfig,
  options: { json: boolean; strict?: boolean; report: Record<string, unknown>; summary: string },
): Promise<number> {
  const { inspectBroker } = await import("@net2ban/transport");
  const plan = brokerCheckPlan(config);
  const tls = config.broker.tls;
  const inspection: BrokerInspection = await inspectBroker({
    urls: plan.urls,
    queues: plan.queues,
    connectionName: "net2banctl check-config",
    ...(tls === undefined
      ? {}
      : {
          tls: {
            ...(tls.ca === undefined ? {} : { ca: await readFile(tls.ca) }),
            ...(tls.cert === undefined ? {} : { cert: await readFile(tls.cert) }),
            ...(tls.key === undefined ? {} : { key: await readFile(tls.key) }),
          },
        }),
  });
  const mismatched = inspection.queues.filter((q) => !q.matches);
  const answered = inspection.nodes.filter((n) => n.answers).length;
  if (options.json) {
    io.out(
      escapeJsonControls(JSON.stringify({ ...options.report, ok: mismatched.length === 0, ...inspection })),
    );
  } else {
    io.out(options.summary);
    for (const node of inspection.nodes) {
      const about = [node.version, node.cluster === undefined ? undefined : `cluster ${node.cluster}`]
        .filter((s) => s !== undefined)
        .map(escapeControls)
        .join(", ");
      io.out(
        node.answers
          ? `node ${node.url}: answers${about === "" ? "" : ` (${about})`}`
          : `node ${node.url}: no answer (${escapeControls(node.reason ?? "?")})`,
      );
    }
    for (const queue of inspection.queues) io.out(describeQueue(queue));
  }
  if (answered === 0 && options.strict === true) {
    io.err(
      `net2banctl: no node of the broker answered (${inspection.nodes.length} tried); queues not checked`,
    );
    return EXIT_NOT_SENT;
  }
  if (answered === 0) io.err("warning: no node of the broker answered; queues not checked");
  for (const queue of inspection.queues) {
    if (queue.existing === "unavailable") {
      io.err(
        `warning: queue "${queue.name}" is a classic queue whose node is down: nothing reaches it until that node is back`,
      );
    }
  }
  for (const queue of mismatched) io.err(`net2banctl: ${mismatchError(queue)}`);
  return mismatched.length > 0 ? EXIT_USAGE : EXIT_OK;
}
