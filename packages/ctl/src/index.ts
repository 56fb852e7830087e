// @net2ban/ctl: net2banctl as a library (in-process runs for tests and tools) and its commands.
export { runFull } from "./cli.js";
export {
  banRequestSpec,
  type CliIo,
  genRandom,
  parseParams,
  prepareUpdate,
  publishRequest,
} from "./commands.js";
export { type FastCommand, parseFastCommand } from "./fast-path.js";
export { run } from "./main.js";
export {
  DEFAULT_QUEUE_BOUNDS,
  policyCalls,
  type QueueBounds,
  type QueuePolicy,
  queueBoundPolicies,
} from "./queue-bounds.js";
export { runRabbitmqctl } from "./rabbitmq-setup.js";
