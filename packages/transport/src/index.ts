// RabbitMQ transport for net2ban: connection recovery, confirmed publishes, acked consumers.
// Apps take a `Broker` as a parameter; `connectBroker` makes the amqplib-backed one.

export { DEFAULT_RECONNECT_POLICY, type ReconnectPolicy, reconnectDelayMs } from "./backoff.js";
export { connectBroker } from "./broker.js";
export {
  BrokerClosedError,
  BrokerUnavailableError,
  type ConnectAttempt,
  PublishBatchError,
  PublishError,
  type PublishFailure,
  QueueMismatchError,
  QueueOperationError,
  TransportError,
} from "./errors.js";
export { assertExchangeName, EXCHANGE_TYPES } from "./exchanges.js";
export {
  type BrokerInspection,
  type ExistingQueueType,
  type InspectOptions,
  inspectBroker,
  type NodeStatus,
  type QueueStatus,
} from "./inspect.js";
export { resolveBrokerOptions } from "./options.js";
export {
  DEAD_LETTER_SUFFIX,
  DEFAULT_DELIVERY_LIMIT,
  deadLetterQueueName,
  queueDeclaration,
} from "./queues.js";
export type {
  Broker,
  BrokerEvent,
  BrokerEventInfo,
  BrokerOptions,
  Consumer,
  ConsumerOptions,
  Delivery,
  PublishItem,
  PublishOptions,
  QueueBinding,
  QueueInfo,
  QueueSpec,
  TransportLogger,
  Verdict,
} from "./types.js";
export { preferredUrlIndex, redactUrl } from "./url.js";
