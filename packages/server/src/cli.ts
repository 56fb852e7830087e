// net2ban-server command line: parse arguments, start the server, stop it cleanly on SIGTERM.
import { hostname } from "node:os";
import { loadConfig, metricsFor } from "@net2ban/config";
import { KeyCache } from "@net2ban/protocol";
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
import { Net2banServer } from "./server.js";
import { setUpBanState } from "./state.js";

/** net2ban-server's options, --help and --version (docs/cli.md is generated from them). */
export const SERVER_ARGS: DaemonArgsSpec = {
  script: "net2ban-server",
  version: packageVersion(import.meta.url),
  description: "Forwards bans from the input queue to every net2ban agent.",
  examples: [
    ["net2ban-server --config /etc/net2ban/net2ban.cfg", "run with this config"],
    ["net2ban-server --log syslog --log-level debug", "log to syslog (facility daemon, ident net2ban)"],
  ],
};

/** net2ban-server --help wrapped at `columns`, for docs/cli.md. */
export function helpText(columns: number): Promise<string> {
  return daemonHelp(SERVER_ARGS, columns);
}

/**
 * Runs net2ban-server. Resolves with an exit code when start-up fails or for --help; once started it
 * runs until SIGTERM/SIGINT (graceful stop, exit 0). SIGHUP reloads the config.
 */
export async function run(argv: string[]): Promise<number> {
  try {
    const args = await parseDaemonArgs(argv, SERVER_ARGS);
    if (args === undefined) return EXIT_OK;
    const { config, logger } = await loadDaemonContext("server", args);
    // What start-up has opened so far: a stop signal may come at any point, also while RabbitMQ is down
    // and the broker connection is still being retried.
    const opened: {
      broker?: Broker;
      banState?: Awaited<ReturnType<typeof setUpBanState>>;
      server?: Net2banServer;
    } = {};
    const shutdown = async () => {
      // server.stop() stops the ban state too; without a server it is stopped here.
      if (opened.server !== undefined) await opened.server.stop();
      else await opened.banState?.state.stop();
      await opened.banState?.close();
      await opened.broker?.close();
    };
    const startUp = async (stopping: AbortSignal) => {
      const broker = await connectFromConfig(config, logger, {
        recover: true,
        connectionName: `net2ban-server@${hostname()}`,
        // [server] url: the server's own login, when each role has one (net2banctl rabbitmq-setup).
        urls: config.server?.urls,
        signal: stopping,
      });
      opened.broker = broker;
      stopping.throwIfAborted();
      // The ledger (state_dir/server), expiry, catch-up, results and metrics (state.ts).
      const keyCache = new KeyCache();
      opened.banState = await setUpBanState({
        config,
        broker,
        logger,
        keyCache,
        metrics: metricsFor(config, "server"),
      });
      const server = await Net2banServer.create(config, {
        broker,
        logger,
        keyCache,
        state: opened.banState.state,
      });
      opened.server = server;
      stopping.throwIfAborted();
      await server.start();
    };
    return await runDaemon(logger, {
      name: "server",
      startUp,
      // Cut start-up short: the connect retries, and whatever waits for a connection (BrokerClosedError).
      abortStartUp: async () => opened.broker?.close(),
      shutdown,
      reload: async () => {
        const { config: next, warnings } = await loadConfig({ path: config.path, env: process.env });
        for (const warning of warnings) logger.warn(warning);
        await opened.server?.reload(next);
      },
    });
  } catch (error) {
    for (const line of describeError(error)) process.stderr.write(`net2ban-server: ${line}\n`);
    return exitCodeFor(error);
  }
}
