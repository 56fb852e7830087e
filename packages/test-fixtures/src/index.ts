// Test fixtures that need nothing of net2ban, so that every package, the transport included, can use
// them: the shared test broker, private broker nodes and clusters for fault tests, temp dirs, waits, a
// logger that keeps its lines, a CLI runner.

export {
  brokerUrl,
  type CleanupOptions,
  cleanupQueues,
  DEFAULT_TEST_AMQP_URL,
  listQueueNames,
  requireBroker,
  uniquePrefix,
} from "./broker.js";
export { type CliLines, type CliOutcome, captureCli } from "./cli.js";
export {
  describeCluster,
  isQuorumCritical,
  killClusterNode,
  type PrivateCluster,
  type PrivateClusterOptions,
  restartClusterNode,
  runningNodes,
  startCluster,
  stopCluster,
} from "./cluster.js";
export { type LogEntry, type LogLevel, type MemoryLogger, memoryLogger } from "./logger.js";
export { type SweepReport, sweepOrphanedNodes } from "./orphans.js";
export { freePort } from "./ports.js";
export {
  killPrivateNode,
  type PrivateNode,
  type PrivateNodeOptions,
  restartPrivateNode,
  startPrivateNode,
  stopPrivateNode,
} from "./private-node.js";
export { type TempDir, tempDir } from "./temp.js";
export { sleep, type Truthy, type WaitForOptions, WaitTimeoutError, waitFor } from "./wait.js";
