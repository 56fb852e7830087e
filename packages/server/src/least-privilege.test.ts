// What the server declares and binds for least-privilege logins: the input queue on input_exchange, every
// `.dead` queue on dead_letter_exchange, new clients on reload, the agents' results queue (and its
// `.dead`) on dead_letter_exchange; nothing extra without those keys.
import { parseConfig } from "@net2ban/config";
import { KeyCache } from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import { MemoryBroker, tempDir } from "@net2ban/test-utils";
import { describe, expect, it } from "vitest";
import { Net2banServer } from "./server.js";
import { ServerState } from "./state.js";

function configText(global: string, clients = ["web1", "web2"]): string {
  return `[global]
url = amqp://net2ban-server:pw@192.0.2.50:5672/net2ban
rounds = 1000
secret = s
mode = server
authkey = a
${global}
[server]
key = server-key
queue_type = quorum
${clients.map((name) => `[${name}]\nkey = key-${name}\n`).join("")}`;
}

function recordingBroker() {
  const broker = new MemoryBroker();
  return { broker, calls: broker.operations };
}

const logger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

async function startedServer(text: string) {
  const { broker, calls } = recordingBroker();
  const server = await Net2banServer.create(parseConfig(text, "net2ban.cfg").config, {
    broker,
    logger,
    protectedAddresses: { localAddresses: () => [], resolveHost: false },
  });
  await server.start();
  return { server, calls };
}

describe("least-privilege exchanges", () => {
  it("binds the input queue to input_exchange and every .dead queue to dead_letter_exchange", async () => {
    const { calls } = await startedServer(
      configText("input_exchange = net2ban.input\ndead_letter_exchange = net2ban.dead"),
    );
    const input = { name: "input_net2ban", queueType: "quorum" };
    const web1 = { name: "net2ban_web1", queueType: "classic" };
    const web2 = { name: "net2ban_web2", queueType: "classic" };
    // Clients' keys are derived concurrently, so the clients come in no fixed order.
    const sorted = (kind: string) =>
      calls
        .filter(([call]) => call === kind)
        .map(([, arg]) => JSON.stringify(arg))
        .sort();
    const json = (values: unknown[]) => values.map((v) => JSON.stringify(v)).sort();
    expect(calls[0]).toEqual(["assertQueue", input]);
    expect(sorted("assertQueue")).toEqual(json([input, web1, web2]));
    expect(sorted("bindQueue")).toEqual(
      json([
        { exchange: "net2ban.input", exchangeType: "direct", queue: input },
        { exchange: "net2ban.dead", exchangeType: "topic", queue: input, deadLetter: true },
        { exchange: "net2ban.dead", exchangeType: "topic", queue: web1, deadLetter: true },
        { exchange: "net2ban.dead", exchangeType: "topic", queue: web2, deadLetter: true },
      ]),
    );
    // Every queue is declared before anything is bound, and consuming starts last.
    const kinds = calls.map(([call]) => call);
    expect(kinds.lastIndexOf("assertQueue")).toBeLessThan(kinds.indexOf("bindQueue"));
    expect(calls.at(-1)).toEqual(["consume", input]);
  });

  it("declares queues only, as the original did, without the exchange keys", async () => {
    const { calls } = await startedServer(configText(""));
    expect(calls.map(([call]) => call)).toEqual(["assertQueue", "assertQueue", "assertQueue", "consume"]);
  });

  it("a reload binds the .dead queue of a new client", async () => {
    const global = "dead_letter_exchange = net2ban.dead";
    const { server, calls } = await startedServer(configText(global));
    calls.length = 0;
    await server.reload(parseConfig(configText(global, ["web1", "web2", "db1"]), "net2ban.cfg").config);
    expect(calls).toContainEqual([
      "bindQueue",
      {
        exchange: "net2ban.dead",
        exchangeType: "topic",
        queue: { name: "net2ban_db1", queueType: "classic" },
        deadLetter: true,
      },
    ]);
  });
});

describe("the agents' results queue", () => {
  async function startedState(global: string) {
    const dir = await tempDir("least-privilege-state");
    const { config } = parseConfig(configText(`state_dir = ${dir.path}\n${global}`, ["web1"]), "net2ban.cfg");
    const { broker, calls } = recordingBroker();
    const state = await ServerState.open({ config, broker, logger, keyCache: new KeyCache() });
    const server = await Net2banServer.create(config, {
      broker,
      logger,
      state,
      protectedAddresses: { localAddresses: () => [], resolveHost: false },
    });
    await server.start();
    return {
      calls,
      close: async () => {
        await server.stop();
        await dir.remove();
      },
    };
  }

  it("is bound to dead_letter_exchange (agents publish their results there), with its .dead, before it is consumed", async () => {
    const { calls, close } = await startedState("dead_letter_exchange = net2ban.dead");
    try {
      // The results queue has the input queue's type (quorum here).
      const results = { name: "net2ban_results", queueType: "quorum" };
      const at = (entry: unknown) =>
        calls.findIndex((call) => JSON.stringify(call) === JSON.stringify(entry));
      const bound = at(["bindQueue", { exchange: "net2ban.dead", exchangeType: "topic", queue: results }]);
      const boundDead = at([
        "bindQueue",
        { exchange: "net2ban.dead", exchangeType: "topic", queue: results, deadLetter: true },
      ]);
      const consumed = at(["consume", results]);
      expect(bound).toBeGreaterThan(-1);
      expect(boundDead).toBeGreaterThan(-1);
      expect(consumed).toBeGreaterThan(Math.max(bound, boundDead));
    } finally {
      await close();
    }
  });

  it("is only declared and consumed without dead_letter_exchange", async () => {
    const { calls, close } = await startedState("");
    try {
      expect(calls.filter(([call]) => call === "bindQueue")).toEqual([]);
      expect(calls).toContainEqual(["consume", { name: "net2ban_results", queueType: "quorum" }]);
    } finally {
      await close();
    }
  });
});
