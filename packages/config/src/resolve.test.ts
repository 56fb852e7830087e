// net2ban.cfg resolution: the original README's samples, the new keys, and exact error lines.
import { describe, expect, it } from "vitest";
import { GENERATED_KEYS_CONFIG, MINIMUM_CONFIG, SCHEMA_CONFIG } from "../test/seed-configs.js";
import { ConfigError } from "./errors.js";
import { clientConfig, listClients, type PeerConfig, parseConfig } from "./resolve.js";

function configError(text: string, fileName = "net2ban.cfg"): ConfigError {
  try {
    parseConfig(text, fileName);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

const BASE = `[global]
server = 10.0.0.1
rounds = 1000
secret = s3cret
mode = server
authkey = authk
`;

const peer = (over: Partial<PeerConfig>): PeerConfig => ({
  name: "client1",
  key: "k1",
  secret: "s3cret",
  rounds: 1000,
  authkey: "authk",
  validWindowSeconds: 3600,
  protocol: 2,
  queue: "net2ban_client1",
  queueType: "classic",
  ...over,
});

describe("parseConfig with the original README's samples", () => {
  it("reads the 'Configuration schema' sample", () => {
    const { config, warnings } = parseConfig(SCHEMA_CONFIG, "/usr/share/net2ban/net2ban.cfg");
    expect(warnings).toEqual([]);
    expect(config.path).toBe("/usr/share/net2ban/net2ban.cfg");
    expect(config.mode).toBe("server");
    expect(config.broker).toEqual({
      urls: ["amqp://guest:guest@172.16.0.1:5672/"],
      heartbeatSeconds: 30,
      prefetch: 16,
    });
    expect(config.server).toEqual({
      name: "server",
      key: "1e3648858a30a105374c1a8a7f05e4fc0dff2abc",
      secret: "57bae6f17927fee0309cd0fcf900903d0bf49277",
      rounds: 12000,
      authkey: "fe64809ba0286c72123d15ffb3554f261ef835d0",
      validWindowSeconds: 3600,
      protocol: 2,
      queue: "input_net2ban",
      queueType: "classic",
    });
    expect(listClients(config)).toEqual(["client1"]);
    expect(config.keygenLength).toBe(40);
  });

  it("lists both clients of the minimum configuration", () => {
    const { config } = parseConfig(MINIMUM_CONFIG, "net2ban.cfg");
    expect(listClients(config)).toEqual(["client1", "client2"]);
    expect(clientConfig(config, "client2").key).toBe("key2");
    expect(clientConfig(config, "client2").queue).toBe("net2ban_client2");
  });

  it("applies [client2] rounds = 100 to client2 only (the original leaked it to later clients)", () => {
    const { config } = parseConfig(GENERATED_KEYS_CONFIG, "net2ban.cfg");
    const shared = {
      secret: "57bae6f17927fee0309cd0fcf900903d0bf49277",
      authkey: "fe64809ba0286c72123d15ffb3554f261ef835d0",
    };
    expect(config.clients).toEqual([
      peer({ ...shared, key: "ca82cd669623f6434e02eecade0236b50fc18cb3", rounds: 12000 }),
      peer({
        ...shared,
        name: "client2",
        key: "767c138a4483e692f41af3d1491f06c0ead41b5b",
        rounds: 100,
        queue: "net2ban_client2",
      }),
    ]);
    expect(config.server?.rounds).toBe(12000);
  });

  it("uses the documented defaults for the new keys", () => {
    const { config } = parseConfig(MINIMUM_CONFIG, "net2ban.cfg");
    expect(config.actionsDirs).toEqual(["/etc/net2ban/action.d", "/usr/share/net2ban/actions"]);
    expect(config.stateDir).toBe("/var/lib/net2ban");
    expect(config.actionTimeoutSeconds).toBe(60);
    expect(config.log).toEqual({
      target: "stdout",
      level: "info",
      format: "json",
      syslogAddress: "udp://127.0.0.1:514",
    });
    expect(config.queuePrefix).toBe("net2ban_");
  });
});

describe("parseConfig: new keys and overrides", () => {
  it("reads url lists, TLS files and broker tuning", () => {
    const { config, warnings } = parseConfig(
      `${BASE}url = amqps://n2b:pw@mq1:5671/net2ban, amqps://n2b:pw@mq2:5671/net2ban
tls_ca = /etc/net2ban/ca.pem
tls_cert = /etc/net2ban/cert.pem
tls_key = /etc/net2ban/key.pem
heartbeat = 0
prefetch = 4
[server]
key = sk
`,
      "net2ban.cfg",
    );
    expect(warnings).toEqual([]);
    expect(config.broker).toEqual({
      urls: ["amqps://n2b:pw@mq1:5671/net2ban", "amqps://n2b:pw@mq2:5671/net2ban"],
      tls: { ca: "/etc/net2ban/ca.pem", cert: "/etc/net2ban/cert.pem", key: "/etc/net2ban/key.pem" },
      heartbeatSeconds: 0,
      prefetch: 4,
    });
  });

  it("brackets an IPv6 server address", () => {
    const { config } = parseConfig(
      BASE.replace("10.0.0.1", "fd00::1") + "[server]\nkey = sk\n",
      "net2ban.cfg",
    );
    expect(config.broker.urls).toEqual(["amqp://guest:guest@[fd00::1]:5672/"]);
  });

  it("lets [server] and each client override the per-peer keys, [global] setting their default", () => {
    const { config } = parseConfig(
      `${BASE}protocol = 1
queue_type = quorum
valid_wtime = 600
[server]
key = sk
protocol = 2
secret = server-only
[client1]
key = k1
[client2]
key = k2
queue_type = classic
authkey = a2
valid_wtime = 60
`,
      "net2ban.cfg",
    );
    expect(config.server).toMatchObject({
      protocol: 2,
      queueType: "quorum",
      secret: "server-only",
      validWindowSeconds: 600,
    });
    expect(config.clients).toEqual([
      peer({ protocol: 1, queueType: "quorum", validWindowSeconds: 600 }),
      peer({
        name: "client2",
        key: "k2",
        queue: "net2ban_client2",
        protocol: 1,
        authkey: "a2",
        validWindowSeconds: 60,
      }),
    ]);
  });

  it("lower-cases mode, queue_prefix and input as the original did, but not client names", () => {
    const { config } = parseConfig(
      BASE.replace("mode = server", "mode = Server") +
        "queue_prefix = N2B_\n[server]\nkey = sk\ninput = Input_Q\n[Client1]\nkey = k\n",
      "net2ban.cfg",
    );
    expect(config.mode).toBe("server");
    expect(config.server?.queue).toBe("input_q");
    expect(config.clients[0]?.queue).toBe("n2b_Client1");
  });

  it("lets [DEFAULT] count as set in every section, so it beats [global] for peers (Py2 has_option)", () => {
    const { config } = parseConfig(
      `[DEFAULT]\nrounds = 7\n${BASE}[server]\nkey = sk\n[client1]\nkey = k1\n`,
      "n.cfg",
    );
    expect(config.server?.rounds).toBe(7);
    expect(config.clients[0]?.rounds).toBe(7);
  });

  it("expands %(name)s from the section and [DEFAULT], and leaves a value without '%(' raw", () => {
    const { config } = parseConfig(
      `[DEFAULT]\nsite = lab\n${BASE.replace("secret = s3cret", "secret = 100%-%%")}[server]\nkey = %(site)s-%(__name__)s\n[client1]\nbase = kk\nkey = %(base)s-%(site)s-50%%\n`,
      "n.cfg",
    );
    expect(config.server?.key).toBe("lab-server");
    expect(config.clients[0]?.key).toBe("kk-lab-50%");
    expect(config.clients[0]?.secret).toBe("100%-%%");
  });

  it("accepts an exported client file: mode = client and no [server]", () => {
    const { config } = parseConfig(
      `${BASE.replace("mode = server", "mode = client")}[client1]\nkey = k1\n`,
      "c.cfg",
    );
    expect(config.mode).toBe("client");
    expect(config.server).toBeUndefined();
    expect(config.clients).toEqual([peer({})]);
  });

  it("uses actions_dir as the only candidate when set", () => {
    const { config } = parseConfig(`${BASE}actions_dir = /srv/actions\n[server]\nkey = sk\n`, "n.cfg");
    expect(config.actionsDirs).toEqual(["/srv/actions"]);
  });
});

describe("parseConfig: errors and warnings", () => {
  it("reports every problem at once, one line each naming file, section and key", () => {
    const error = configError(`[global]
server = 172.16.15.2
rounds = 12000
mode = sever
valid_wtime = soon
authkey = fe64809ba0286c72123d15ffb3554f261ef835d0
queue_prefix = net2ban_
colour = blue
heartbeat = -1

[server]
key = 1e3648858a30a105374c1a8a7f05e4fc0dff2abc
prefetch = 4

[keygen]
keylen = 40

[client1]
key = key1

[client2]
rounds = abc
key = ""
`);
    expect(error.errors).toEqual([
      'net2ban.cfg: [global] mode: expected one of "server", "client", "publisher", got "sever"',
      'net2ban.cfg: [global] heartbeat: expected a non-negative integer, got "-1"',
      "net2ban.cfg: [server] secret: missing; set it in [server] or [global]",
      'net2ban.cfg: [global] valid_wtime: expected a positive integer, got "soon"',
      "net2ban.cfg: [client1] secret: missing; set it in [client1] or [global]",
      "net2ban.cfg: [client2] key: must not be empty",
      "net2ban.cfg: [client2] secret: missing; set it in [client2] or [global]",
      'net2ban.cfg: [client2] rounds: expected a positive integer, got "abc"',
    ]);
    expect(error.message).toBe(error.errors.join("\n"));
    expect(error.warnings).toEqual([
      "net2ban.cfg: [global] colour: unknown key, ignored",
      "net2ban.cfg: [server] prefetch: only read in [global], ignored",
    ]);
  });

  it("reads the logging keys: journal, text, a syslog address; one line for each bad value", () => {
    const good = parseConfig(
      `${BASE}log = journal\nlog_format = TEXT\nsyslog_address = tcp://[2001:db8::5]:6514\n[server]\nkey = k\n`,
      "net2ban.cfg",
    );
    expect(good.config.log).toEqual({
      target: "journal",
      level: "info",
      format: "text",
      syslogAddress: "tcp://[2001:db8::5]:6514",
    });
    expect(
      parseConfig(`${BASE}syslog_address = udp://logs.example\n[server]\nkey = k\n`, "net2ban.cfg").config.log
        .syslogAddress,
    ).toBe("udp://logs.example:514");
    expect(
      configError(`${BASE}log_format = yaml\nsyslog_address = /dev/log\n[server]\nkey = k\n`).errors,
    ).toEqual([
      'net2ban.cfg: [global] log_format: expected "json" or "text", got "yaml"',
      'net2ban.cfg: [global] syslog_address: expected udp://host:port or tcp://host:port, got "/dev/log"',
    ]);
  });

  it("names the base name of the file", () => {
    expect(configError("[global]\nmode = x\n", "/etc/net2ban/net2ban.cfg").errors[0]).toBe(
      'net2ban.cfg: [global] mode: expected one of "server", "client", "publisher", got "x"',
    );
  });

  it("turns INI syntax errors into file:line errors", () => {
    expect(configError("# net2ban\nserver = 1.2.3.4\n").errors).toEqual([
      'net2ban.cfg:2: option before any [section] header: "server = 1.2.3.4"',
    ]);
  });

  it("requires [global], a broker and, in server mode, [server]", () => {
    expect(configError("[client1]\nkey = k\n").errors).toEqual([
      "net2ban.cfg: [global]: missing section",
      "net2ban.cfg: [client1] secret: missing; set it in [client1] or [global]",
      "net2ban.cfg: [client1] rounds: missing; set it in [client1] or [global]",
      "net2ban.cfg: [client1] authkey: missing; set it in [client1] or [global]",
    ]);
    expect(configError(BASE.replace("server = 10.0.0.1\n", "")).errors).toEqual([
      "net2ban.cfg: [global] server: missing; set server (the RabbitMQ host) or url",
      "net2ban.cfg: [server]: missing section; mode = server needs its input queue and key",
    ]);
  });

  it("rejects bad URLs without echoing the password, and bad paths and enums", () => {
    const error = configError(
      `${BASE}url = amqp://u:hunter2@mq1/, http://u:hunter2@mq2/
state_dir = var/lib
log = file
log_level = verbose
queue_type = lazy
protocol = 3
[server]
key = sk
`,
    );
    expect(error.errors).toEqual([
      'net2ban.cfg: [global] url: expected amqp:// or amqps:// URLs separated by commas, got "http://u:***@mq2/"',
      'net2ban.cfg: [global] state_dir: expected an absolute path, got "var/lib"',
      'net2ban.cfg: [global] log: expected one of "stdout", "syslog", "journal", got "file"',
      'net2ban.cfg: [global] log_level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "verbose"',
      'net2ban.cfg: [global] protocol: expected "1" or "2", got "3"',
      'net2ban.cfg: [global] queue_type: expected "classic" or "quorum", got "lazy"',
    ]);
    expect(error.message).not.toContain("hunter2");
  });

  it("reports interpolation errors with file, section, key and the missing name", () => {
    expect(configError(`${BASE}[server]\nkey = %(nope)s\n`).errors).toEqual([
      'net2ban.cfg: [server] key: %(nope)s refers to an unknown option "nope"',
    ]);
  });

  it("rejects queue names RabbitMQ would refuse or that collide", () => {
    const error = configError(
      `${BASE}queue_prefix = amq.\n[server]\nkey = sk\ninput = amq.x\n[x]\nkey = k\n[${"c".repeat(260)}]\nkey = k\n`,
    );
    expect(error.errors).toEqual([
      'net2ban.cfg: [server]: queue name "amq.x" starts with "amq.", which RabbitMQ reserves',
      'net2ban.cfg: [x]: queue name "amq.x" starts with "amq.", which RabbitMQ reserves',
      'net2ban.cfg: [server] input: "amq.x" is also the queue of [x]',
      `net2ban.cfg: [${"c".repeat(260)}]: queue name "amq.${"c".repeat(260)}" is longer than 255 bytes`,
    ]);
  });

  it("warns about keys in the wrong section, case-variant section names and TLS without amqps", () => {
    const { warnings } = parseConfig(
      `${BASE}key = misplaced\ntls_ca = /etc/ca.pem\n[server]\nkey = sk\ninput = in\nkeylen = 3\n[Keygen]\nkey = k\n[DEFAULT]\nfoo = 1\n`,
      "net2ban.cfg",
    );
    expect(warnings).toEqual([
      "net2ban.cfg: [DEFAULT] foo: unknown key, ignored",
      "net2ban.cfg: [global] key: only read in [server], client sections and [publisher:NAME] sections, ignored",
      "net2ban.cfg: [server] keylen: only read in [keygen], ignored",
      "net2ban.cfg: [Keygen]: section names are case-sensitive; read as a client, not as [keygen]",
      "net2ban.cfg: [global] tls_ca: the broker URL is not amqps://, ignored",
    ]);
  });

  it("clientConfig names the known clients when asked for an unknown one", () => {
    const { config } = parseConfig(MINIMUM_CONFIG, "/etc/net2ban/net2ban.cfg");
    expect(() => clientConfig(config, "client9")).toThrow(
      new ConfigError(['net2ban.cfg: no client named "client9"; known: client1, client2']),
    );
    expect(() => clientConfig(config, "client9")).toThrow(ConfigError);
  });

  it("checks its arguments", () => {
    expect(() => parseConfig(undefined as unknown as string, "x")).toThrow(
      '"text" expected a string, got undefined',
    );
  });
});

describe("parseConfig: one broker login per role (least privilege)", () => {
  const LEAST_PRIVILEGE = `[global]
url = amqp://net2ban-server:spw@mq:5672/net2ban
ctl_url = amqp://net2ban-ctl:cpw@mq:5672/net2ban
input_exchange = net2ban.input
dead_letter_exchange = net2ban.dead
rounds = 1000
secret = s3cret
mode = server
authkey = authk
[server]
key = sk
[client1]
key = k1
url = amqp://net2ban-client1:pw1@mq:5672/net2ban
[client2]
key = k2
`;

  it("reads a peer's own url, ctl_url and the exchanges; a peer without url uses [global] url", () => {
    const { config, warnings } = parseConfig(LEAST_PRIVILEGE, "net2ban.cfg");
    expect(warnings).toEqual([]);
    expect(config.broker).toEqual({
      urls: ["amqp://net2ban-server:spw@mq:5672/net2ban"],
      ctlUrls: ["amqp://net2ban-ctl:cpw@mq:5672/net2ban"],
      inputExchange: "net2ban.input",
      deadLetterExchange: "net2ban.dead",
      heartbeatSeconds: 30,
      prefetch: 16,
    });
    expect(clientConfig(config, "client1").urls).toEqual(["amqp://net2ban-client1:pw1@mq:5672/net2ban"]);
    expect(clientConfig(config, "client2")).not.toHaveProperty("urls");
    expect(config.server).not.toHaveProperty("urls");
  });

  it("reads [server] url as the server daemon's own login", () => {
    const { config } = parseConfig(
      `${BASE}[server]\nkey = sk\nurl = amqps://srv:pw@mq1:5671/n, amqps://srv:pw@mq2:5671/n\n`,
      "net2ban.cfg",
    );
    expect(config.server?.urls).toEqual(["amqps://srv:pw@mq1:5671/n", "amqps://srv:pw@mq2:5671/n"]);
    expect(config.broker.urls).toEqual(["amqp://guest:guest@10.0.0.1:5672/"]);
  });

  it("keeps TLS files when only a peer's own url is amqps://", () => {
    const { config, warnings } = parseConfig(
      `${BASE}tls_ca = /etc/ca.pem\n[server]\nkey = sk\n[client1]\nkey = k1\nurl = amqps://c1:pw@mq:5671/n\n`,
      "net2ban.cfg",
    );
    expect(warnings).toEqual([]);
    expect(config.broker.tls).toEqual({ ca: "/etc/ca.pem" });
  });

  it("refuses bad exchange names and bad per-peer URLs without echoing passwords", () => {
    const error = configError(
      `${BASE}input_exchange = amq.direct\ndead_letter_exchange = net2ban dead\nctl_url = http://u:secret@mq/\n[server]\nkey = sk\n[client1]\nkey = k1\nurl = ftp://c1:pw1@mq/\n`,
    );
    expect(error.errors).toEqual([
      'net2ban.cfg: [global] ctl_url: expected amqp:// or amqps:// URLs separated by commas, got "http://u:***@mq/"',
      'net2ban.cfg: [global] input_exchange: "amq.direct" starts with "amq.", which RabbitMQ reserves',
      'net2ban.cfg: [global] dead_letter_exchange: expected an exchange name of letters, digits, "_", "-", "." or ":", got "net2ban dead"',
      'net2ban.cfg: [client1] url: expected amqp:// or amqps:// URLs separated by commas, got "ftp://c1:***@mq/"',
    ]);
    expect(error.message).not.toContain("secret");
    expect(error.message).not.toContain("pw1");
  });
});
