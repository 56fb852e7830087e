// Broker URLs: masking passwords for logs and errors, checking them, adding the heartbeat we negotiate.

/** `amqp://user:***@host:port/vhost`: safe for logs and error messages. Unparseable input is not echoed. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "<unparseable broker URL>";
  }
  if (parsed.password !== "") parsed.password = "***";
  return parsed.toString();
}

/** Checks one broker URL; the error names the argument and shows the URL with its password masked. */
export function assertBrokerUrl(value: unknown, argument: string): asserts value is string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`"${argument}" expected an amqp:// or amqps:// URL, got ${typeof value}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new TypeError(`"${argument}" expected an amqp:// or amqps:// URL, got an unparseable string`);
  }
  if (parsed.protocol !== "amqp:" && parsed.protocol !== "amqps:") {
    throw new TypeError(`"${argument}" expected an amqp:// or amqps:// URL, got ${redactUrl(value)}`);
  }
  if (parsed.hostname === "") {
    throw new TypeError(`"${argument}" expected a URL with a host, got ${redactUrl(value)}`);
  }
}

/**
 * amqplib only takes the heartbeat from the URL query, so it is appended there unless the URL already
 * asks for one (an operator's explicit `?heartbeat=` wins). The rest of the URL is left byte for byte,
 * because re-serialising would re-encode credentials.
 */
export function withHeartbeat(url: string, heartbeatSeconds: number): string {
  const parsed = new URL(url);
  if (parsed.searchParams.has("heartbeat")) return url;
  const hashAt = url.indexOf("#");
  const base = hashAt === -1 ? url : url.slice(0, hashAt);
  const separator = base.includes("?") ? "&" : "?";
  return `${base}${separator}heartbeat=${heartbeatSeconds}`;
}

/**
 * Index of the URL a client prefers, from a stable hash (FNV-1a, 32 bits) of `key` (its connection name,
 * which names the client and its host): each client always starts at the same node, and a fleet spreads
 * evenly over the nodes of a cluster without any coordination. Pure, so tests and tools can predict it.
 */
export function preferredUrlIndex(key: string, count: number): number {
  if (typeof key !== "string") throw new TypeError(`"key" expected a string, got ${typeof key}`);
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`"count" expected a positive integer, got ${count}`);
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}
