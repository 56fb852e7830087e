// BrokerOptions checked and resolved into the settings a broker runs with: defaults filled in, the start
// node picked, the connection name and TLS material put where amqplib takes them.
import {
  assertBoolean,
  assertFunction,
  assertInteger,
  assertNonEmptyString,
  assertNumber,
  assertObject,
  assertPem,
} from "./assert.js";
import { DEFAULT_RECONNECT_POLICY, type ReconnectPolicy } from "./backoff.js";
import { assertExchangeName } from "./exchanges.js";
import type { BrokerOptions, TransportLogger } from "./types.js";
import { assertBrokerUrl, preferredUrlIndex } from "./url.js";

/** BrokerOptions resolved: what AmqpBroker runs with. */
export interface Settings {
  urls: string[];
  socketOptions: Record<string, unknown>;
  heartbeatSeconds: number;
  logger: TransportLogger;
  recover: boolean;
  operationTimeoutMs: number;
  reconnect: ReconnectPolicy;
  startIndex: number;
  random: () => number;
  deadLetterExchange: string | undefined;
}

/** Checks BrokerOptions and fills in the defaults. */
export function resolveBrokerOptions(options: BrokerOptions): Settings {
  assertObject(options, "options");
  const { urls, tls, connectionName, logger } = options;
  if (!Array.isArray(urls) || urls.length === 0) {
    throw new TypeError(`"options.urls" expected a non-empty array of amqp(s):// URLs`);
  }
  urls.forEach((url, i) => {
    assertBrokerUrl(url, `options.urls[${i}]`);
  });
  assertObject(logger, "options.logger");
  for (const level of ["debug", "info", "warn", "error"] as const)
    assertFunction(logger[level], `options.logger.${level}`);
  const heartbeatSeconds = options.heartbeatSeconds ?? 30;
  assertInteger(heartbeatSeconds, "options.heartbeatSeconds", 0, 3600);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  assertInteger(connectTimeoutMs, "options.connectTimeoutMs", 1, 600_000);
  const operationTimeoutMs = options.operationTimeoutMs ?? 30_000;
  assertInteger(operationTimeoutMs, "options.operationTimeoutMs", 1, 3_600_000);
  const recover = options.recover ?? false;
  assertBoolean(recover, "options.recover");
  const random = options.random ?? Math.random;
  assertFunction(random, "options.random");
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError(`"options.signal" expected an AbortSignal`);
  }
  if (options.deadLetterExchange !== undefined)
    assertExchangeName(options.deadLetterExchange, "options.deadLetterExchange");
  if (connectionName !== undefined) assertNonEmptyString(connectionName, "options.connectionName");
  // A named client always starts at the same node (spread by a hash of its name); anonymous ones at random.
  const startIndex =
    options.startIndex ??
    (connectionName === undefined
      ? Math.floor(random() * urls.length)
      : preferredUrlIndex(connectionName, urls.length));
  assertInteger(startIndex, "options.startIndex", 0, Number.MAX_SAFE_INTEGER);

  const reconnect: ReconnectPolicy = { ...DEFAULT_RECONNECT_POLICY };
  if (options.reconnect !== undefined) {
    assertObject(options.reconnect, "options.reconnect");
    const r = options.reconnect;
    if (r.initialDelayMs !== undefined)
      assertInteger(r.initialDelayMs, "options.reconnect.initialDelayMs", 0, 3_600_000);
    if (r.maxDelayMs !== undefined) assertInteger(r.maxDelayMs, "options.reconnect.maxDelayMs", 0, 3_600_000);
    if (r.factor !== undefined) assertNumber(r.factor, "options.reconnect.factor", 1, 10);
    if (r.jitter !== undefined) assertNumber(r.jitter, "options.reconnect.jitter", 0, 1);
    Object.assign(reconnect, Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
    reconnect.maxDelayMs = Math.max(reconnect.maxDelayMs, reconnect.initialDelayMs);
  }

  const socketOptions: Record<string, unknown> = { timeout: connectTimeoutMs, noDelay: true };
  if (connectionName !== undefined) {
    socketOptions["clientProperties"] = { connection_name: connectionName };
  }
  if (tls !== undefined) {
    assertObject(tls, "options.tls");
    for (const key of ["ca", "cert", "key"] as const) {
      const pem = tls[key];
      if (pem === undefined) continue;
      assertPem(pem, `options.tls.${key}`);
      socketOptions[key] = pem;
    }
  }
  return {
    urls: [...urls],
    socketOptions,
    heartbeatSeconds,
    logger,
    recover,
    operationTimeoutMs,
    reconnect,
    startIndex: startIndex % urls.length,
    random,
    deadLetterExchange: options.deadLetterExchange,
  };
}
