// [publisher:NAME] sections: read as publishers (not clients), their rights' defaults and checks, and
// `net2banctl get_publisher`'s export, which carries the publisher's key and nothing of anyone else's.
import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { exportPublisherConfig } from "./export-publisher.js";
import { parseConfig } from "./resolve.js";

const BASE = `[global]
url = amqp://guest:guest@mq:5672/
rounds = 9
secret = shared-secret
authkey = shared-authkey
mode = server
[server]
key = the-server-key
[web1]
key = web1-key
`;

const parse = (extra: string) => parseConfig(`${BASE}${extra}`, "net2ban.cfg");

describe("[publisher:NAME]", () => {
  it("is a publisher, not a client, with the fail2ban detection host's rights by default", () => {
    const { config, warnings } = parse("[publisher:detect1]\nkey = d1\n");
    expect(config.clients.map((c) => c.name)).toEqual(["web1"]);
    expect(warnings).toEqual([]);
    expect(config.publishers).toEqual([
      {
        name: "detect1",
        key: "d1",
        secret: "shared-secret",
        rounds: 9,
        authkey: "shared-authkey",
        validWindowSeconds: 3600,
        protocol: 2,
        queue: "input_net2ban",
        rights: {
          commands: ["ban", "unban"],
          actions: ["iptables-multiport"],
          operations: ["actionban", "actionunban"],
          to: "*",
        },
      },
    ]);
    expect(config.acceptServerKey).toBe(true);
  });

  it("reads every right, and accept_server_key", () => {
    const { config } = parse(
      "[server]\naccept_server_key = no\n[publisher:ops]\nkey = o\ncommands = ban exec\nactions = *\noperations = actionban\nto = web1\nmax_bantime = 1d\nrate = 30\n",
    );
    expect(config.acceptServerKey).toBe(false);
    expect(config.publishers[0]?.rights).toEqual({
      commands: ["ban", "exec"],
      actions: "*",
      operations: ["actionban"],
      to: ["web1"],
      maxBanTimeSeconds: 86_400,
      ratePerMinute: 30,
    });
  });

  it.each([
    ["[publisher:server]\nkey = x\n", '"server" is the key id of the [server] key'],
    ["[publisher:d1]\nkey = x\nprotocol = 1\n", "publishers need protocol 2"],
    [
      "[publisher:d1]\nkey = x\ncommands = ban, shutdown\n",
      'expected commands of ban, unban, exec, update, status separated by commas, got "shutdown"',
    ],
    ["[publisher:d1]\n", "[publisher:d1] key: missing"],
    ["[publisher:d1]\nkey = x\nrate = 0\n", "expected bans per minute"],
  ])("refuses %j: %s", (extra, problem) => {
    expect(() => parse(extra)).toThrow(ConfigError);
    try {
      parse(extra);
    } catch (error) {
      expect((error as ConfigError).message).toContain(problem);
    }
  });

  it("get_publisher: its key and login, the server's input queue, nothing of [server] or the clients", () => {
    const { config } = parse(
      "[publisher:detect1]\nkey = detect1-key\nurl = amqp://pub-detect1:pw@mq:5672/\ncommands = ban\n",
    );
    const text = exportPublisherConfig(config, "detect1");
    expect(text).not.toContain("the-server-key");
    expect(text).not.toContain("web1");
    expect(text).not.toContain("guest");
    const back = parseConfig(text, "detect1.cfg").config;
    expect(back.server).toBeUndefined();
    expect(back.clients).toEqual([]);
    expect(back.mode).toBe("publisher");
    expect(back.broker.urls).toEqual(["amqp://pub-detect1:pw@mq:5672/"]);
    expect(back.publishers[0]).toMatchObject({ name: "detect1", key: "detect1-key", queue: "input_net2ban" });
  });

  it("get_publisher refuses the shared login when roles have their own", () => {
    const { config } = parse(
      "[publisher:detect1]\nkey = d1\n[publisher:other]\nkey = o\nurl = amqp://o:p@mq/\n",
    );
    expect(() => exportPublisherConfig(config, "detect1")).toThrow(/\[publisher:detect1\] url: missing/);
    expect(() => exportPublisherConfig(config, "nobody")).toThrow(/no publisher named "nobody"/);
  });
});
