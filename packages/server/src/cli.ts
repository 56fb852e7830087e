// net2ban-server command line: parse arguments, start the server, stop it cleanly on SIGTERM.
import { hostname } from "node:os";
import { loadConfig, metricsFor } from "@net2ban/config";
import { KeyCache } from "@net2ban/protocol";
import {
  connectFromConfig,
  describeError,
  EXIT_OK,
  exitCodeFor,
  handleSignals,
  loadDaemonContext,
  parseDaemonArgs,
} from "@net2ban/runtime";
import { Net2banServer } from "./server.js";
import { setUpServerState } from "./state.js";

/**
 * Runs net2ban-server. Resolves with an exit code when start-up fails or for --help; once started it
 * runs until SIGTERM/SIGINT (graceful stop, exit 0). SIGHUP reloads the config.
 */
export async function run(argv: string[]): Promise<number> {
  try {
    const args = await parseDaemonArgs(argv, {
      script: "net2ban-server",
      description: "Forwards bans from the input queue to every net2ban agent.",
      examples: [
        ["net2ban-server --config /etc/net2ban/net2ban.cfg", "run with this config"],
        ["net2ban-server --log syslog --log-level debug", "log to syslog (facility daemon, ident net2ban)"],
      ],
    });
    if (args === undefined) return EXIT_OK;
    const { config, logger } = await loadDaemonContext("server", args);
    const broker = await connectFromConfig(config, logger, {
      recover: true,
      connectionName: `net2ban-server@${hostname()}`,
      // [server] url: the server's own login, when each role has one (net2banctl rabbitmq-setup).
      urls: config.server?.urls,
    });
    // The ledger (state_dir/server), expiry, catch-up, results and metrics (state.ts).
    const keyCache = new KeyCache();
    const banState = await setUpServerState({
      config,
      broker,
      logger,
      keyCache,
      metrics: metricsFor(config, "server"),
    });
    const server = await Net2banServer.create(config, { broker, logger, keyCache, state: banState.state });
    await server.start();
    handleSignals(logger, {
      stop: async () => {
        await server.stop();
        await banState.close();
        await broker.close();
      },
      reload: async () => {
        const { config: next, warnings } = await loadConfig({ path: config.path, env: process.env });
        for (const warning of warnings) logger.warn(warning);
        await server.reload(next);
      },
    });
    return await new Promise<number>(() => undefined);
  } catch (error) {
    for (const line of describeError(error)) process.stderr.write(`net2ban-server: ${line}\n`);
    return exitCodeFor(error);
  }
}
