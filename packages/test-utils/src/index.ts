// Test fixtures for net2ban: the shared test broker, private broker nodes for fault tests, an in-memory
// Broker for unit tests, temp dirs, waits.

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
export * from "./fuzz.js";
export { type LogEntry, type LogLevel, type MemoryLogger, memoryLogger } from "./logger.js";
export {
  type DeliverOptions,
  type DeliveryVerdict,
  MemoryBroker,
  type QueueOperation,
} from "./memory-broker.js";
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
