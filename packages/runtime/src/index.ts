// Shared wiring of the net2ban daemons and CLIs: logger, config and broker start-up, signals, exit codes.
export { type DaemonArgsSpec, daemonHelp, type ParsedDaemonArgs, parseDaemonArgs } from "./args.js";
export {
  describeError,
  EXIT_FAILED,
  EXIT_NOT_CONFIRMED,
  EXIT_NOT_SENT,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeFor,
  UsageError,
} from "./cli-errors.js";
export {
  connectFromConfig,
  type DaemonArgs,
  type DaemonContext,
  type DaemonLifecycle,
  handleSignals,
  loadDaemonContext,
  runDaemon,
  type SignalHandlers,
  type SignalProcess,
} from "./daemon.js";
export {
  createLogger,
  createSyslogFormatter,
  type Logger,
  type LoggerOptions,
  REDACT_PATHS,
} from "./logger.js";
export {
  Counter,
  Gauge,
  Histogram,
  LATENCY_BUCKETS,
  MetricsError,
  MetricsRegistry,
  type MetricsServer,
  type MetricsServerOptions,
  registerQueueDepth,
  startMetricsServer,
} from "./metrics.js";
export { packageVersion } from "./version.js";
