// Test helpers for net2ban: an in-memory Broker for unit tests and the handlers' fuzz harness, beside the
// fixtures of @net2ban/test-fixtures (the test broker, private nodes, temp dirs, waits), re-exported so
// that tests import one package.

export * from "@net2ban/test-fixtures";
export * from "./fuzz.js";
export {
  type DeliverOptions,
  type DeliveryVerdict,
  MemoryBroker,
  type QueueOperation,
} from "./memory-broker.js";
