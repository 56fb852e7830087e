// Client export (`net2banctl get_client`): byte-for-byte with the original README, no foreign
// secrets, and an exported file gives the client exactly the settings the server holds for it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLIENT1_EXPORT, GENERATED_KEYS_CONFIG } from "../test/seed-configs.js";
import { ConfigError } from "./errors.js";
import { exportClientConfig } from "./export.js";
import { clientConfig, parseConfig } from "./resolve.js";

const SERVER_KEY = "1e3648858a30a105374c1a8a7f05e4fc0dff2abc";

describe("exportClientConfig", () => {
  it("reproduces the README's client1.cfg byte for byte", () => {
    const { config } = parseConfig(GENERATED_KEYS_CONFIG, "/usr/share/net2ban/net2ban.cfg");
    expect(exportClientConfig(config, "client1")).toBe(CLIENT1_EXPORT);
  });

  it("keeps a client's overrides in source order and leaves out the server and other clients", () => {
    const { config } = parseConfig(GENERATED_KEYS_CONFIG, "net2ban.cfg");
    const text = exportClientConfig(config, "client2");
    expect(text.endsWith("[client2]\nrounds = 100\nkey = 767c138a4483e692f41af3d1491f06c0ead41b5b\n")).toBe(
      true,
    );
    expect(text).not.toContain("[server]");
    expect(text).not.toContain(SERVER_KEY);
    expect(text).not.toContain("ca82cd669623f6434e02eecade0236b50fc18cb3");
    expect(text).not.toContain("input");
  });

  it("copies in what a section reads from [DEFAULT] and expands references, without exporting [DEFAULT]", () => {
    const source = `[DEFAULT]
rounds = 500
site = lab
key = ${SERVER_KEY}
[global]
server = mq
secret = %(site)s-secret
mode = server
authkey = a
[server]
input = in
[client1]
key = own-%(site)s
[client2]
colour = blue
`;
    const { config } = parseConfig(source, "net2ban.cfg");
    const text = exportClientConfig(config, "client1");
    expect(text).toBe(`[global]
server = mq
secret = lab-secret
mode = client
authkey = a
rounds = 500

[keygen]
keylen = 40

[client1]
key = own-lab
rounds = 500
`);
    expect(text).not.toContain(SERVER_KEY);
    const reread = parseConfig(text, "client1.cfg").config;
    expect(clientConfig(reread, "client1")).toEqual(clientConfig(config, "client1"));
  });

  it("writes mode = client even when [global] has no mode of its own", () => {
    const { config } = parseConfig(
      "[DEFAULT]\nmode = server\n[global]\nserver = h\nrounds = 1\nsecret = s\nauthkey = a\n[server]\nkey = k\n[c]\nkey = k\n",
      "n.cfg",
    );
    expect(exportClientConfig(config, "c")).toContain(
      "[global]\nserver = h\nrounds = 1\nsecret = s\nauthkey = a\nmode = client\n",
    );
  });

  it("gives a client with its own url only that login: never the server's url nor ctl_url", () => {
    const source = `[global]
url = amqp://net2ban-server:server-pw@mq:5672/net2ban
ctl_url = amqp://net2ban-ctl:ctl-pw@mq:5672/net2ban
input_exchange = net2ban.input
dead_letter_exchange = net2ban.dead
rounds = 9
secret = s
authkey = a
mode = server
[server]
key = ${SERVER_KEY}
[web1]
key = k1
url = amqp://net2ban-web1:web1-pw@mq:5672/net2ban
[web2]
key = k2
`;
    const { config } = parseConfig(source, "net2ban.cfg");
    const web1 = exportClientConfig(config, "web1");
    expect(web1).not.toContain("server-pw");
    expect(web1).not.toContain("ctl-pw");
    expect(web1).not.toContain("ctl_url");
    expect(web1.split("\n").slice(0, 4)).toEqual([
      "[global]",
      "url = amqp://net2ban-web1:web1-pw@mq:5672/net2ban",
      "input_exchange = net2ban.input",
      "dead_letter_exchange = net2ban.dead",
    ]);
    const reread = parseConfig(web1, "web1.cfg").config;
    expect(reread.broker.urls).toEqual(["amqp://net2ban-web1:web1-pw@mq:5672/net2ban"]);
    expect(reread.broker.deadLetterExchange).toBe("net2ban.dead");
  });

  it("refuses a client without a login of its own where roles have their own logins", () => {
    const source = `[global]
url = amqp://admin:admin-pw@mq:5672/net2ban
ctl_url = amqp://net2ban-ctl:ctl-pw@mq:5672/net2ban
rounds = 9
secret = s
authkey = a
mode = server
[server]
key = ${SERVER_KEY}
url = amqp://net2ban-server:server-pw@mq:5672/net2ban
[web1]
key = k1
url = amqp://net2ban-web1:web1-pw@mq:5672/net2ban
[web2]
key = k2
`;
    const { config } = parseConfig(source, "net2ban.cfg");
    const warnings: string[] = [];
    const warn = (line: string) => warnings.push(line);
    expect(() => exportClientConfig(config, "web2", { warn })).toThrow(ConfigError);
    expect(() => exportClientConfig(config, "web2")).toThrow(
      "net2ban.cfg: [web2] url: missing; the file gives roles their own logins (ctl_url, [server] url, [web1] url), so the shared [global] login is not web2's to have: add its own url (net2banctl rabbitmq-setup prints it)",
    );
    // Any one role login is enough to refuse.
    const roleLines = source.split("\n").filter((line) => /^(ctl_url|url = amqp:\/\/net2ban-)/.test(line));
    expect(roleLines).toHaveLength(3);
    for (const kept of roleLines) {
      const onlyOne = source
        .split("\n")
        .filter((line) => line === kept || !roleLines.includes(line))
        .join("\n");
      expect(() => exportClientConfig(parseConfig(onlyOne, "n.cfg").config, "web2")).toThrow(ConfigError);
    }
    expect(exportClientConfig(config, "web1", { warn })).not.toContain("admin-pw");
    expect(warnings).toEqual([]);
  });

  it("warns once when a client without a url of its own gets the login every peer shares", () => {
    const source = `[global]
url = amqp://net2ban:pw@mq:5672/net2ban
rounds = 9
secret = s
authkey = a
mode = server
[server]
key = ${SERVER_KEY}
[web1]
key = k1
`;
    const warnings: string[] = [];
    const text = exportClientConfig(parseConfig(source, "net2ban.cfg").config, "web1", {
      warn: (line) => warnings.push(line),
    });
    expect(text).toContain("url = amqp://net2ban:pw@mq:5672/net2ban");
    expect(warnings).toEqual([
      "net2ban.cfg: [web1] has no url of its own: the export carries the login every peer shares ([global] url or server); give each client its own (net2banctl rabbitmq-setup)",
    ]);
  });

  it("adds [global] url for a client with its own url when the source only names a server host", () => {
    const source = `[global]
server = mq
rounds = 9
secret = s
authkey = a
mode = server
[server]
key = ${SERVER_KEY}
[web1]
key = k1
url = amqps://web1:pw@mq:5671/net2ban
`;
    const { config } = parseConfig(source, "net2ban.cfg");
    const text = exportClientConfig(config, "web1");
    expect(text).toContain("server = mq\n");
    expect(text).toContain("url = amqps://web1:pw@mq:5671/net2ban\n");
    expect(parseConfig(text, "web1.cfg").config.broker.urls).toEqual(["amqps://web1:pw@mq:5671/net2ban"]);
  });

  it("refuses an unknown client, listing the known ones", () => {
    const { config } = parseConfig(GENERATED_KEYS_CONFIG, "net2ban.cfg");
    expect(() => exportClientConfig(config, "client3")).toThrow(ConfigError);
    expect(() => exportClientConfig(config, "client3")).toThrow(
      'no client named "client3"; known: client1, client2',
    );
  });

  it("gives the client the same settings as the server holds for it, for generated configurations", () => {
    const value = fc.stringMatching(/^[A-Za-z0-9()+/=_-]{1,12}$/);
    const peerKeys = fc.record(
      {
        rounds: fc.integer({ min: 1, max: 100000 }).map(String),
        secret: value,
        authkey: value,
        valid_wtime: fc.integer({ min: 1, max: 100000 }).map(String),
        protocol: fc.constantFrom("1", "2"),
        queue_type: fc.constantFrom("classic", "quorum"),
      },
      { requiredKeys: [] },
    );
    // A client with its own broker login (least privilege) or, as the original, the shared one.
    const ownUrl = fc.option(fc.constantFrom("amqp://c1:pw@mq2:5672/net2ban", "amqps://c1:pw@mq:5671/v"));
    const section = (name: string, entries: Record<string, string>) =>
      `[${name}]\n${Object.entries(entries)
        .map(([k, v]) => `${k} = ${v}\n`)
        .join("")}`;
    fc.assert(
      fc.property(
        peerKeys,
        peerKeys,
        peerKeys,
        peerKeys,
        value,
        ownUrl,
        (defaults, global, server, client, key, url) => {
          const text =
            section("DEFAULT", defaults) +
            section("global", {
              server: "mq",
              rounds: "9",
              secret: "s",
              authkey: "a",
              mode: "server",
              ...global,
            }) +
            section("server", { key: "server-key", ...server }) +
            section("client1", { ...client, key: `c1-${key}`, ...(url === null ? {} : { url }) }) +
            section("client2", { key: "other-client-key" });
          const { config } = parseConfig(text, "net2ban.cfg");
          const exported = exportClientConfig(config, "client1");
          expect(exported).not.toContain("server-key");
          expect(exported).not.toContain("other-client-key");
          const reread = parseConfig(exported, "client1.cfg").config;
          expect(reread.mode).toBe("client");
          expect(reread.clients).toEqual([clientConfig(config, "client1")]);
          expect(reread.broker).toEqual({
            ...config.broker,
            urls: url === null ? config.broker.urls : [url],
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
