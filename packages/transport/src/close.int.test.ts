// close() (and an aborted connect) end a connection attempt that is still in flight: a RabbitMQ host that
// accepts TCP but never answers must not hold a daemon's stop for the whole connect timeout. The peer here
// is a TCP relay to the shared broker that can be switched to swallow new connections.

import { createConnection, createServer, type Server, type Socket } from "node:net";
import { brokerUrl, memoryLogger, requireBroker, waitFor } from "@net2ban/test-fixtures";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "./broker.js";
import { BrokerClosedError } from "./errors.js";

/** Relays to the shared broker while `answering`; otherwise accepts connections and never says a word. */
class SilentRelay {
  answering = true;
  /** Connections accepted while not answering. */
  swallowed = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<SilentRelay> {
    const target = new URL(brokerUrl());
    let relay: SilentRelay | undefined;
    const server = createServer((client) => {
      const self = relay!;
      self.#track(client);
      if (!self.answering) {
        self.swallowed += 1;
        return;
      }
      const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5672) });
      self.#track(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      const cut = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("close", cut);
      upstream.on("close", cut);
    });
    relay = new SilentRelay(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  get url(): string {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("relay not listening");
    const target = new URL(brokerUrl());
    return `amqp://${target.username}:${target.password}@127.0.0.1:${address.port}${target.pathname}`;
  }

  /** The broker "goes silent": live connections are cut, new ones hang. */
  goSilent(): void {
    this.answering = false;
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => this.#sockets.delete(socket));
  }
}

// Longer than any test here may run: only close() can end these attempts.
const connectTimeoutMs = 600_000;

describe("a connection attempt in flight", () => {
  let relay: SilentRelay | undefined;

  beforeAll(() => requireBroker());

  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it("ends when the connect signal aborts", async () => {
    relay = await SilentRelay.start();
    relay.answering = false;
    const abort = new AbortController();
    const connecting = connectBroker({
      urls: [relay.url],
      logger: memoryLogger(),
      recover: true,
      connectTimeoutMs,
      signal: abort.signal,
    });
    const silent = relay;
    await waitFor(() => silent.swallowed >= 1, { what: "the connection attempt to reach the silent host" });
    abort.abort();
    const error = await connecting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerClosedError);
  });

  it("ends when close() is called while reconnecting to a host that does not answer", async () => {
    relay = await SilentRelay.start();
    const logger = memoryLogger();
    const broker = await connectBroker({
      urls: [relay.url],
      logger,
      recover: true,
      connectTimeoutMs,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    relay.goSilent();
    const silent = relay;
    await waitFor(() => logger.find("warn", "Connection to RabbitMQ lost").length === 1, {
      what: "the lost connection",
    });
    await waitFor(() => silent.swallowed >= 1, { what: "a reconnect attempt to reach the silent host" });
    await broker.close();
    expect(logger.find("info", "Connected to RabbitMQ")).toHaveLength(1);
    await expect(broker.assertQueue({ name: "n2bt-close-after" })).rejects.toBeInstanceOf(BrokerClosedError);
  });
});
