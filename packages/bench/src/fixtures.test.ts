// The bench's generated configs are real net2ban configs: @net2ban/config accepts them as written.
import { describe, expect, it } from "vitest";
import { clientNames, queuesOf, serverConfig } from "./fixtures.js";

describe("serverConfig", () => {
  const config = serverConfig({
    brokerUrl: "amqp://guest:guest@127.0.0.1:5672/",
    prefix: "n2bbench_test",
    clients: 3,
    rounds: 1000,
    prefetch: 32,
  });

  it("has a server, N clients with their own keys, and the given settings", () => {
    expect(config.mode).toBe("server");
    expect(config.server?.queue).toBe("n2bbench_test_input");
    expect(config.clients.map((c) => c.name)).toEqual(clientNames(3));
    expect(new Set(config.clients.map((c) => c.key)).size).toBe(3);
    expect(config.clients.every((c) => c.rounds === 1000 && c.protocol === 2)).toBe(true);
    expect(config.broker.prefetch).toBe(32);
  });

  it("names every queue it uses, the results queue and dead-letter queues included, for cleanup", () => {
    expect(queuesOf(config)).toEqual([
      "n2bbench_test_input",
      "n2bbench_test_input.dead",
      "n2bbench_test_results",
      "n2bbench_test_results.dead",
      ...["client1", "client2", "client3"].flatMap((n) => [`n2bbench_test_${n}`, `n2bbench_test_${n}.dead`]),
    ]);
  });
});
