// The server's side of the param policy: an exec or a ban request (v1 or v2, sealed with the [server]
// key) that sets an option outside [global] + [server] allow_params is dropped with one line naming the
// param; nothing is forwarded, and an allowed option goes through.
import { parseConfig } from "@net2ban/config";
import {
  createCodec,
  createExecRequest,
  createTrackedBanRequest,
  type Net2banMessage,
} from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import { MemoryBroker } from "@net2ban/test-utils";
import { describe, expect, it } from "vitest";
import { Net2banServer } from "./server.js";

const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);

function configText(protocol: 1 | 2): string {
  return `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = s
mode = server
authkey = a
queue_prefix = policy_
protocol = ${protocol}
allow_params = hostsdeny:daemon_list

[server]
key = server-key
allow_params = iptables-multiport:blocktype

[agent1]
key = k1
allow_params = iptables-multiport:iptables
`;
}

async function serverFor(protocol: 1 | 2) {
  const lines: string[] = [];
  const log = (_o: object, msg?: string) => lines.push(msg ?? "");
  const logger = { info: log, warn: log, error: log, debug: () => undefined };
  const broker = new MemoryBroker();
  const forwarded = broker.published;
  const server = await Net2banServer.create(parseConfig(configText(protocol), "policy.cfg").config, {
    broker,
    logger: logger as unknown as Logger,
    now: () => NOW_MS,
    protectedAddresses: { localAddresses: () => ["198.51.100.2"], resolveHost: false },
  });
  const codec = await createCodec({
    protocol,
    keyId: "server",
    direction: "to-server",
    keys: { key: "server-key", secret: "s", authkey: "a", rounds: 1000 },
  });
  const send = (message: Net2banMessage) =>
    server.handleRequest({
      body: codec.seal(message as never),
      redelivered: false,
      deliveryTag: 1,
      headers: {},
    });
  return { lines, forwarded, send };
}

const exec = (file: string, params: Record<string, string>) =>
  createExecRequest({ file, action: "actionban", params, sender: "test", now: () => NOW_MS });

describe.each([1, 2] as const)("protocol %i input", (protocol) => {
  it.each([
    ["iptables-multiport", { ip: "192.0.2.1", iptables: "eval", blocktype: "x; id" }, "iptables"],
    ["hostsdeny", { ip: "192.0.2.2", file: "/etc/net2ban/action.d/evil.conf", daemon_list: "x" }, "file"],
    ["iptables-multiport", { ip: "192.0.2.3", returntype: "DROP" }, "returntype"],
    ["iptables-multiport", { ip: "192.0.2.4", name: "a b" }, "name"],
  ])("exec %s %j is dropped: one line naming %s, nothing forwarded", async (file, params, param) => {
    const { lines, forwarded, send } = await serverFor(protocol);
    expect(await send(exec(file, params))).toBe("reject");
    expect(forwarded).toEqual([]);
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^param "${param}" refused: .*; request dropped$`)),
    ]);
  });

  it("allowed options go through: [server]'s, [global]'s and the defaults", async () => {
    const { lines, forwarded, send } = await serverFor(protocol);
    expect(
      await send(
        exec("iptables-multiport", { ip: "192.0.2.5", name: "sshd", port: "ssh", blocktype: "DROP" }),
      ),
    ).toBe("ack");
    expect(await send(exec("hostsdeny", { ip: "192.0.2.6", daemon_list: "sshd" }))).toBe("ack");
    expect(forwarded).toHaveLength(2);
    expect(lines.filter((l) => l.includes("refused"))).toEqual([]);
  });
});

it("a v2 ban request's params and jail name are held to the same policy", async () => {
  const { lines, forwarded, send } = await serverFor(2);
  const ban = (name: string, params: Record<string, string>) =>
    createTrackedBanRequest({
      ip: "192.0.2.7",
      action: "iptables-multiport",
      name,
      params,
      sender: "t",
      now: () => NOW_MS,
    });
  expect(await send(ban("sshd", { iptables: "eval" }))).toBe("reject");
  expect(await send(ban("a/b", {}))).toBe("reject");
  expect(forwarded).toEqual([]);
  expect(lines).toEqual([
    expect.stringMatching(
      /^param "iptables" refused: not an option a message may set for iptables-multiport \(allow_params of \[global\] and \[server\]; .*; request dropped$/,
    ),
    expect.stringMatching(/^param "name" refused: expected .*, got "a\/b"; request dropped$/),
  ]);
});
