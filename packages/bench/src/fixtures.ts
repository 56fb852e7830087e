// Throwaway configs for in-process benchmarks: a server with N clients, parsed by @net2ban/config itself,
// and the queues it names, deleted afterwards.
import { randomBytes } from "node:crypto";
import { type Net2banConfig, parseConfig } from "@net2ban/config";
import amqp from "amqplib";

export interface FleetConfigOptions {
  brokerUrl: string;
  /** Queue names start with `<prefix>_`. */
  prefix: string;
  clients: number;
  /** PBKDF2 rounds (production default 12000). */
  rounds: number;
  protocol?: 1 | 2;
  prefetch?: number;
  /** Where clients' actions live (in-process agents read it); default a path that need not exist. */
  actionsDir?: string;
  /**
   * `state_dir` of the server and the agents (ledger, journals, schedules). Give one whenever the real
   * bins run from this config: without it they use /var/lib/net2ban of the machine.
   */
  stateDir?: string;
}

const secret = () => randomBytes(20).toString("hex");

/** Client names: client1..clientN. */
export function clientNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `client${i + 1}`);
}

/** The text of a server's net2ban.cfg with `clients` client sections. */
export function serverConfigText(options: FleetConfigOptions): string {
  const lines = [
    "[global]",
    `url = ${options.brokerUrl}`,
    `rounds = ${options.rounds}`,
    `secret = ${secret()}`,
    "mode = server",
    "valid_wtime = 3600",
    `authkey = ${secret()}`,
    `queue_prefix = ${options.prefix}_`,
    `actions_dir = ${options.actionsDir ?? "/nonexistent/net2ban-bench-actions"}`,
    `prefetch = ${options.prefetch ?? 16}`,
    ...(options.stateDir === undefined ? [] : [`state_dir = ${options.stateDir}`]),
    "",
    "[server]",
    `input = ${options.prefix}_input`,
    `key = ${secret()}`,
    `protocol = ${options.protocol ?? 2}`,
    "",
  ];
  for (const name of clientNames(options.clients)) {
    lines.push(`[${name}]`, `key = ${secret()}`, `protocol = ${options.protocol ?? 2}`, "");
  }
  return lines.join("\n");
}

export function serverConfig(options: FleetConfigOptions): Net2banConfig {
  return parseConfig(serverConfigText(options), "bench-server.cfg").config;
}

/** Every queue the server of `config` and its agents use, with their dead-letter queues. */
export function queuesOf(config: Net2banConfig): string[] {
  // The results queue (agents -> server) is declared by the server beside its input queue.
  const names = [
    config.server?.queue,
    config.server === undefined ? undefined : config.state.resultsQueue,
    ...config.clients.map((c) => c.queue),
  ].filter((n): n is string => n !== undefined);
  return names.flatMap((n) => [n, `${n}.dead`]);
}

/** Deletes queues on one channel (a missing queue is fine). */
export async function deleteQueues(brokerUrl: string, names: readonly string[]): Promise<void> {
  const connection = await amqp.connect(brokerUrl);
  try {
    const channel = await connection.createChannel();
    for (const name of names) await channel.deleteQueue(name);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Empties queues between rounds, so messages left by one round never slow the next. */
export async function purgeQueues(brokerUrl: string, names: readonly string[]): Promise<void> {
  const connection = await amqp.connect(brokerUrl);
  try {
    const channel = await connection.createChannel();
    await Promise.all(names.map((name) => channel.purgeQueue(name)));
    await channel.close();
  } finally {
    await connection.close();
  }
}
