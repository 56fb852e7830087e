// A child process that hosts many in-process agents (each a Net2banAgent with its own broker connection,
// action engine and actions directory) and reports, over IPC, when each command arrived and when its
// action was done, on the machine-wide monotonic clock. Lets 100 agents run on two cores.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ActionEngine, runCommand } from "@net2ban/actions";
import { Journal, Net2banAgent } from "@net2ban/agent";
import { clientConfig, parseConfig } from "@net2ban/config";
import { demoActionFile } from "@net2ban/fleet";
import { type Broker, connectBroker } from "@net2ban/transport";
import { timedBroker } from "./broker-timing.js";
import { monotonicMs } from "./context.js";
import { sinkLogger } from "./logger.js";

export interface HostStart {
  type: "start";
  brokerUrl: string;
  /** The server's config text: every client's section, so each agent takes its own. */
  configText: string;
  names: string[];
  /** Each agent gets `<root>/<name>/actions` and writes its bans to `<root>/<name>/bans.log`. */
  root: string;
  prefetch: number;
  /** Give each agent its durable journal (`<root>/<name>/state`), as net2ban-agent does. */
  journal: boolean;
}

/** The action floor: run `count` shells like the demo action's at once, without net2ban. */
export interface HostShells {
  type: "shells";
  id: number;
  count: number;
  root: string;
}

export type HostEvent =
  | { type: "ready"; pid: number }
  | { type: "delivered"; agent: string; id: string; at: number }
  | { type: "done"; agent: string; id: string; ip: string; at: number; actionMs: number }
  | { type: "shells-done"; id: number; at: number[] }
  | { type: "stopped" }
  | { type: "error"; message: string };

/** An action whose operations are empty: the agent's whole path (journal included) without a process. */
export const NOOP_ACTION = "net2ban-noop";
const NOOP_ACTION_FILE = "[Definition]\nactionstart =\nactionban =\nactionunban =\nactionstop =\n";

export function banLogOf(root: string, name: string): string {
  return join(root, name, "bans.log");
}

function send(event: HostEvent): void {
  process.send?.(event);
}

async function start(spec: HostStart): Promise<() => Promise<void>> {
  const { config } = parseConfig(spec.configText, "bench-server.cfg");
  const agents: Net2banAgent[] = [];
  const brokers: Broker[] = [];
  const journals: Journal[] = [];
  await Promise.all(
    spec.names.map(async (name) => {
      const dir = join(spec.root, name);
      const actionsDir = join(dir, "actions");
      await mkdir(actionsDir, { recursive: true });
      await writeFile(join(actionsDir, "net2ban-demo.conf"), demoActionFile(banLogOf(spec.root, name)));
      await writeFile(join(actionsDir, `${NOOP_ACTION}.conf`), NOOP_ACTION_FILE);
      const logger = sinkLogger({
        hook: (message, fields) => {
          if (message.startsWith("IP ") && message.endsWith(" banned")) {
            send({
              type: "done",
              agent: name,
              id: String(fields["id"]),
              ip: String(fields["ip"]),
              at: monotonicMs(),
              actionMs: Number(fields["durationMs"]),
            });
          }
        },
      });
      const broker = await connectBroker({
        urls: [spec.brokerUrl],
        logger: sinkLogger({ level: "warn" }),
        connectionName: `net2ban bench agent ${name}`,
        recover: false,
      });
      brokers.push(broker);
      const timed = timedBroker(broker, {
        delivered: (id) => send({ type: "delivered", agent: name, id: id ?? "?", at: monotonicMs() }),
      });
      const peer = clientConfig(config, name);
      let journal: Journal | undefined;
      if (spec.journal) {
        journal = await Journal.open({
          dir: join(dir, "state"),
          retentionSeconds: peer.validWindowSeconds,
          logger: sinkLogger({ level: "warn" }),
        });
        journals.push(journal);
      }
      const agent = await Net2banAgent.create({
        peer,
        broker: timed,
        logger,
        engine: new ActionEngine({ actionsDir, logger, defaultTimeoutSeconds: 30 }),
        actionsDir,
        prefetch: spec.prefetch,
        ...(journal === undefined ? {} : { journal }),
      });
      await agent.start();
      agents.push(agent);
    }),
  );
  return async () => {
    await Promise.all(agents.map((agent) => agent.stop()));
    await Promise.all(brokers.map((broker) => broker.close()));
    await Promise.all(journals.map((journal) => journal.close()));
  };
}

/** What the demo action runs, `count` times at once, through the engine's own runner. */
async function runShells(spec: HostShells): Promise<number[]> {
  const log = join(spec.root, "shells.log");
  return Promise.all(
    Array.from({ length: spec.count }, async (_, i) => {
      const result = await runCommand(["echo ban 192.0.2.$0 >> $1", String(i % 250), log], {
        timeoutMs: 30_000,
      });
      if (result.exitCode !== 0) throw new Error(`shell floor: exit ${result.exitCode}: ${result.stderr}`);
      return monotonicMs();
    }),
  );
}

let stop: (() => Promise<void>) | undefined;
process.on("message", (message: { type: string }) => {
  if (message.type === "start") {
    start(message as HostStart).then(
      (stopAgents) => {
        stop = stopAgents;
        send({ type: "ready", pid: process.pid });
      },
      (error: unknown) => send({ type: "error", message: String((error as Error)?.stack ?? error) }),
    );
  } else if (message.type === "shells") {
    const shells = message as HostShells;
    runShells(shells).then(
      (at) => send({ type: "shells-done", id: shells.id, at }),
      (error: unknown) => send({ type: "error", message: String(error) }),
    );
  } else if (message.type === "stop") {
    (stop ?? (async () => {}))().then(
      () => {
        send({ type: "stopped" });
        process.disconnect?.();
      },
      (error: unknown) => send({ type: "error", message: String(error) }),
    );
  }
});
