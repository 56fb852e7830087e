// Start-up and shutdown shared by net2ban-server and net2ban-agent: config, logger, broker, signals.
import { readFile } from "node:fs/promises";
import { loadConfig, type Net2banConfig } from "@net2ban/config";
import { type Broker, connectBroker } from "@net2ban/transport";
import type { Logger } from "pino";
import { createLogger } from "./logger.js";

export interface DaemonArgs {
  config?: string | undefined;
  log?: "stdout" | "syslog" | "journal" | undefined;
  logLevel?: string | undefined;
  logFormat?: "json" | "text" | undefined;
}

export interface DaemonContext {
  config: Net2banConfig;
  logger: Logger;
}

/** Loads the config (lookup order of @net2ban/config) and builds the logger it asks for. */
export async function loadDaemonContext(component: string, args: DaemonArgs): Promise<DaemonContext> {
  const { config, warnings } = await loadConfig(
    args.config === undefined ? { env: process.env } : { path: args.config, env: process.env },
  );
  const logger = createLogger({
    component,
    target: args.log ?? config.log.target,
    level: args.logLevel ?? config.log.level,
    format: args.logFormat ?? config.log.format,
    syslogAddress: config.log.syslogAddress,
  });
  for (const warning of warnings) logger.warn(warning);
  return { config, logger };
}

/**
 * Connects to the broker the config names, reading TLS files if any. `urls` is the peer's own login
 * (its section's `url`) when it has one; the dead-letter exchange comes from the config.
 */
export async function connectFromConfig(
  config: Net2banConfig,
  logger: Logger,
  options: {
    recover: boolean;
    connectionName: string;
    urls?: string[] | undefined;
    /** Gives up waiting for RabbitMQ (BrokerClosedError): a stop signal during start-up. */
    signal?: AbortSignal | undefined;
  },
): Promise<Broker> {
  const tlsFiles = config.broker.tls;
  const tls =
    tlsFiles === undefined
      ? undefined
      : {
          ...(tlsFiles.ca === undefined ? {} : { ca: await readFile(tlsFiles.ca) }),
          ...(tlsFiles.cert === undefined ? {} : { cert: await readFile(tlsFiles.cert) }),
          ...(tlsFiles.key === undefined ? {} : { key: await readFile(tlsFiles.key) }),
        };
  return connectBroker({
    urls: options.urls ?? config.broker.urls,
    deadLetterExchange: config.broker.deadLetterExchange,
    ...(tls === undefined ? {} : { tls }),
    heartbeatSeconds: config.broker.heartbeatSeconds,
    connectionName: options.connectionName,
    logger,
    recover: options.recover,
    signal: options.signal,
  });
}

export interface SignalHandlers {
  /** SIGTERM / SIGINT: finish in-flight work, then resolve. */
  stop: () => Promise<void>;
  /** SIGHUP: re-read the config. */
  reload?: () => Promise<void>;
}

/** The part of `process` that signal handling uses: unit tests pass a stand-in and send no real signals. */
export interface SignalProcess {
  on(signal: "SIGTERM" | "SIGINT" | "SIGHUP", listener: () => void): unknown;
  exit(code: number): void;
  exitCode?: number | string | undefined;
}

/**
 * Wires SIGTERM/SIGINT to a graceful stop (exit 0 when done, 1 if stopping failed) and SIGHUP to
 * reload. A second SIGTERM while stopping exits at once, as operators expect.
 */
export function handleSignals(logger: Logger, handlers: SignalHandlers, proc: SignalProcess = process): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second stop signal, exiting now");
      proc.exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, "stopping");
    handlers.stop().then(
      () => {
        logger.info("stopped");
        logger.flush?.();
        proc.exitCode = 0;
        setTimeout(() => proc.exit(0), 50).unref();
      },
      (error: unknown) => {
        logger.error({ err: error }, "stop failed");
        proc.exit(1);
      },
    );
  };
  proc.on("SIGTERM", () => stop("SIGTERM"));
  proc.on("SIGINT", () => stop("SIGINT"));
  const reload = handlers.reload;
  if (reload) {
    proc.on("SIGHUP", () => {
      logger.info("SIGHUP: reloading configuration");
      reload().catch((error: unknown) => {
        logger.error({ err: error }, "reload failed, keeping the previous configuration");
      });
    });
  }
}

/** What runDaemon runs: a start-up a stop signal may cut short, and the shutdown of what it opened. */
export interface DaemonLifecycle {
  /** "agent" / "server", in the log line of a SIGHUP that comes during start-up. */
  name: string;
  /** Opens everything and starts; `signal` is aborted when a stop signal comes before it is done. */
  startUp(signal: AbortSignal): Promise<void>;
  /** Cuts a start-up in progress short: closes whatever waits for a connection. */
  abortStartUp?(): Promise<void>;
  /** Closes what start-up opened, in order (after it finished, failed or was cut short). */
  shutdown(): Promise<void>;
  /** SIGHUP once started (one during start-up is logged and ignored). */
  reload?(): Promise<void>;
}

/**
 * Runs a daemon: signal handlers from the first moment (a SIGTERM while RabbitMQ is still being waited
 * for stops it with exit 0 and the usual stopping/stopped lines), then start-up. Once started it never
 * resolves (the signals end the process); a failed start-up closes what it had opened and throws.
 */
export async function runDaemon(
  logger: Logger,
  lifecycle: DaemonLifecycle,
  proc: SignalProcess = process,
): Promise<never> {
  const stopStartUp = new AbortController();
  let started = false;
  const starting = lifecycle.startUp(stopStartUp.signal).then(() => {
    started = true;
  });
  const reload = lifecycle.reload;
  handleSignals(
    logger,
    {
      stop: async () => {
        if (!started) {
          stopStartUp.abort();
          await lifecycle.abortStartUp?.();
          await starting.catch(() => undefined);
        }
        await lifecycle.shutdown();
      },
      ...(reload === undefined
        ? {}
        : {
            reload: async () => {
              if (!started) {
                logger.warn(
                  `SIGHUP during start-up ignored: send it again once the ${lifecycle.name} has started`,
                );
                return;
              }
              await reload();
            },
          }),
    },
    proc,
  );
  try {
    await starting;
  } catch (error) {
    // Stopped during start-up: handleSignals logs "stopped" and exits 0.
    if (stopStartUp.signal.aborted) return await new Promise<never>(() => undefined);
    await lifecycle.shutdown().catch(() => undefined);
    throw error;
  }
  return await new Promise<never>(() => undefined);
}
