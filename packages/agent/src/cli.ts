// net2ban-agent command line: parse arguments, start the agent, run actionstop and exit on SIGTERM.
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ActionEngine, ParamPolicy } from "@net2ban/actions";
import {
  allowlistFor,
  allowParamsFor,
  ConfigError,
  clientConfig,
  describeAllowParams,
  metricsFor,
  type Net2banConfig,
  protectedAddresses,
} from "@net2ban/config";
import {
  connectFromConfig,
  type DaemonArgsSpec,
  daemonHelp,
  describeError,
  EXIT_OK,
  exitCodeFor,
  loadDaemonContext,
  packageVersion,
  parseDaemonArgs,
  runDaemon,
} from "@net2ban/runtime";
import type { Broker } from "@net2ban/transport";
import { Net2banAgent } from "./agent.js";
import { Journal } from "./journal.js";
import { setUpBanState } from "./state.js";

/** The agent's name: --name, else the only client section of its (exported) config. */
export function agentName(config: Net2banConfig, explicit: string | undefined): string {
  if (explicit !== undefined) return clientConfig(config, explicit).name;
  const [only, ...others] = config.clients;
  if (only === undefined)
    throw new ConfigError([`${config.path}: no client section: which agent is this?`], []);
  if (others.length > 0) {
    throw new ConfigError(
      [
        `${config.path}: ${config.clients.length} client sections: pass --name (one of ${config.clients.map((c) => c.name).join(", ")})`,
      ],
      [],
    );
  }
  return only.name;
}

/** The first actions_dir candidate that exists, as the original fell back to /usr/share/net2ban/actions. */
export function pickActionsDir(
  config: Net2banConfig,
  exists: (path: string) => boolean = existsSync,
): string {
  const found = config.actionsDirs.find((dir) => exists(dir));
  if (found === undefined) {
    throw new ConfigError(
      [`${config.path}: actions_dir: none of ${config.actionsDirs.join(", ")} exists`],
      [],
    );
  }
  return found;
}

/** net2ban-agent's options, --help and --version (docs/cli.md is generated from them). */
export const AGENT_ARGS: DaemonArgsSpec = {
  script: "net2ban-agent",
  version: packageVersion(import.meta.url),
  description: "Runs the fail2ban actions that the net2ban server sends to this host.",
  examples: [
    ["net2ban-agent --config /etc/net2ban/net2ban.cfg", "run with an exported client config"],
    ["net2ban-agent --config fleet.cfg --name web1", "run as client web1 of a config with several clients"],
  ],
  extra: { name: "client name (default: the only client section of the config)" },
};

/** net2ban-agent --help wrapped at `columns`, for docs/cli.md. */
export function helpText(columns: number): Promise<string> {
  return daemonHelp(AGENT_ARGS, columns);
}

export async function run(argv: string[]): Promise<number> {
  try {
    const args = await parseDaemonArgs(argv, AGENT_ARGS);
    if (args === undefined) return EXIT_OK;
    const { config, logger } = await loadDaemonContext("agent", args);
    const peer = clientConfig(config, agentName(config, args["name"]));
    const actionsDir = pickActionsDir(config);
    const engine = new ActionEngine({
      actionsDir,
      logger,
      defaultTimeoutSeconds: config.actionTimeoutSeconds,
      // What a message may set: ticket values, name/port/protocol/chain, and this host's allow_params.
      paramPolicy: ParamPolicy.of(allowParamsFor(config, peer.name), describeAllowParams(peer.name)),
    });
    const agentLogger = logger.child({ client: peer.name });
    // What start-up has opened so far: a stop signal may come at any point, also while RabbitMQ is down
    // and the broker connection is still being retried.
    const opened: {
      journal?: Journal;
      broker?: Broker;
      agent?: Net2banAgent;
      banState?: { close(): Promise<void> };
    } = {};
    const shutdown = async () => {
      await opened.agent?.stop();
      await opened.banState?.close();
      await opened.broker?.close();
      await opened.journal?.close();
    };
    const startUp = async (stopping: AbortSignal) => {
      opened.journal = await Journal.open({
        dir: join(config.stateDir, peer.name),
        retentionSeconds: peer.validWindowSeconds,
        logger: agentLogger,
      });
      const broker = await connectFromConfig(config, logger, {
        recover: true,
        connectionName: `net2ban-agent ${peer.name}@${hostname()}`,
        // The client section's own url: a login that may read this agent's queue only.
        urls: peer.urls,
        signal: stopping,
      });
      opened.broker = broker;
      stopping.throwIfAborted();
      // Self-lockout guard: [global] + own ignoreip, loopback, the broker (names resolved now), this host.
      const allowlist = allowlistFor(config, peer.name).concat(
        await protectedAddresses({
          brokerUrls: [...config.broker.urls, ...(peer.urls ?? [])],
          onWarning: (line) => agentLogger.warn({}, line),
        }),
      );
      const agent = await Net2banAgent.create({
        allowlist,
        peer,
        broker,
        logger: agentLogger,
        engine,
        actionsDir,
        prefetch: config.broker.prefetch,
        journal: opened.journal,
      });
      opened.agent = agent;
      // Expiry, catch-up, results, drift checks and metrics (state.ts).
      opened.banState = await setUpBanState({
        config,
        peer,
        agent,
        broker,
        engine,
        actionsDir,
        allowlist,
        logger: agentLogger,
        metrics: metricsFor(config, peer.name),
      });
      stopping.throwIfAborted();
      await agent.start();
    };
    return await runDaemon(logger, {
      name: "agent",
      startUp,
      // Cut start-up short: the connect retries, and whatever waits for a connection (BrokerClosedError).
      abortStartUp: async () => opened.broker?.close(),
      shutdown,
    });
  } catch (error) {
    for (const line of describeError(error)) process.stderr.write(`net2ban-agent: ${line}\n`);
    return exitCodeFor(error);
  }
}
