// Least privilege, end to end on the shared RabbitMQ in a private vhost of this test:
// `net2banctl rabbitmq-setup --apply` makes one login per role, the fleet runs on those logins only, and
// each login is shown to do its job and nothing else (an agent reads only its own queue and publishes
// only its dead letters and its results, through the dead-letter exchange; net2banctl publishes only
// through the input exchange and reads only its own reply queue, so `ban --wait` and `status` work).
// Then an agent runs as nobody with CAP_NET_ADMIN and CAP_NET_RAW only, in a network namespace, and its
// iptables ban lands.
// The vhost and the logins are deleted afterwards; guest and the existing vhosts are never touched.

import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { chmod, chown, cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { requireBroker } from "@net2ban/test-utils";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleAgent, Fleet } from "./fleet.js";
import { netnsUnavailableReason, sweepStaleNetworks, TestNetwork } from "./netns.js";

const BROKER = new URL(process.env["NET2BAN_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/");
const vhost = `n2bt-priv-${randomBytes(4).toString("hex")}`;
const userPrefix = `${vhost}-`;
/** agent3 is the one that runs as nobody in a namespace, with the stock iptables-multiport action. */
const CAPABLE = "agent3";
const NOBODY_UID = 65534;

// rabbitmqctl, namespaces and setpriv need root. In CI a missing privilege is a failure, never a skip.
const unavailable = await netnsUnavailableReason(["ip", "iptables", "rabbitmqctl", "setpriv"]);
const skip = unavailable !== undefined && !process.env["CI"];

interface SetupLogin {
  role: "server" | "ctl" | "agent";
  client?: string;
  user: string;
  urls: string[];
}
interface SetupOutput {
  vhost: string;
  logins: SetupLogin[];
  config: Record<string, string[]>;
}

let fleet: Fleet | undefined;
let setup: SetupOutput | undefined;
let network: TestNetwork | undefined;

function rabbitmqctl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("rabbitmqctl", args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`rabbitmqctl ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
    });
  });
}

function f(): Fleet {
  if (fleet === undefined) throw new Error("the fleet was not made (see beforeAll's error)");
  return fleet;
}

function loginUrl(who: string): string {
  const login = setup?.logins.find((l) => (l.client ?? l.role) === who);
  if (login === undefined) throw new Error(`rabbitmq-setup made no login for ${who}`);
  return login.urls[0]!;
}

const queueOf = (agent: string) => `${f().prefix}_${agent}`;
/** Where agents send results and digests (the server consumes it). */
const resultsQueue = () => `${f().prefix}_results`;

/** Inserts `lines` right after the `[section]` header of an INI file. */
async function addToSection(path: string, section: string, lines: readonly string[]): Promise<void> {
  const text = await readFile(path, "utf8");
  const header = `[${section}]\n`;
  const at = text.indexOf(header);
  if (at === -1) throw new Error(`${path} has no [${section}]`);
  const end = at + header.length;
  await writeFile(path, `${text.slice(0, end)}${lines.map((l) => `${l}\n`).join("")}${text.slice(end)}`);
}

/**
 * Runs one AMQP operation with a login on a fresh connection; "ok", or RabbitMQ's reply. A refused publish
 * closes the channel: the reason comes in the channel's error, the confirm only says "channel closed".
 */
async function attempt(
  url: string,
  operation: (channel: amqp.ConfirmChannel) => Promise<unknown>,
): Promise<string> {
  const connection = await amqp.connect(url);
  connection.on("error", () => {});
  let closedBy = "";
  try {
    const channel = await connection.createConfirmChannel();
    channel.on("error", (error: Error) => {
      closedBy = error.message;
    });
    channel.on("return", () => {
      closedBy = "returned: NO_ROUTE";
    });
    await operation(channel);
    await channel.waitForConfirms();
    // A mandatory publish that reached no queue is returned before its confirm.
    return closedBy === "" ? "ok" : closedBy;
  } catch (error) {
    return closedBy || (error as Error).message;
  } finally {
    await connection.close().catch(() => {});
  }
}

function publish(exchange: string, routingKey: string) {
  return async (channel: amqp.ConfirmChannel) => {
    channel.publish(exchange, routingKey, Buffer.from("forged"), { persistent: true, mandatory: true });
  };
}

const refused = (resource: string, user: string) =>
  new RegExp(`ACCESS_REFUSED - access to ${resource} in vhost '${vhost}' refused for user '${user}'`);

describe.skipIf(skip)("least privilege: one RabbitMQ login per role", () => {
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`least-privilege test cannot run: ${unavailable}`);
    await requireBroker(BROKER.toString());
    // The fleet's [global] url names the test's vhost with guest, which has no access there: every process
    // must use the login rabbitmq-setup gives its role, or fail.
    const base = new URL(BROKER);
    base.pathname = `/${encodeURIComponent(vhost)}`;
    fleet = await Fleet.create({ agents: 3, brokerUrl: base.toString(), rounds: 1000, label: "priv" });

    const made = await fleet.ctl([
      "rabbitmq-setup",
      "--apply",
      "--json",
      "--vhost",
      vhost,
      "--user-prefix",
      userPrefix,
    ]);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
    setup = JSON.parse(made.stdout) as SetupOutput;

    const { global = [], server = [] } = setup.config;
    await addToSection(fleet.serverConfigPath, "global", global);
    await addToSection(fleet.serverConfigPath, "server", server);
    const exchanges = global.filter((line) => !line.startsWith("ctl_url"));
    for (const agent of fleet.agentNames) {
      await addToSection(fleet.agentConfigPath(agent), "global", exchanges);
      await addToSection(fleet.agentConfigPath(agent), agent, setup.config[agent] ?? []);
    }
    // The server makes the exchanges and bindings; agents' logins may not.
    await fleet.startServer();
  }, 120_000);

  afterAll(async () => {
    try {
      await fleet?.close();
    } finally {
      try {
        await network?.destroy();
      } finally {
        for (const login of setup?.logins ?? [])
          await rabbitmqctl(["delete_user", login.user]).catch(() => {});
        await rabbitmqctl(["delete_vhost", vhost]).catch(() => {});
      }
    }
  }, 60_000);

  it("rabbitmq-setup --apply made the vhost and one login per role, with the permissions it printed", async () => {
    expect(setup?.vhost).toBe(vhost);
    expect(setup?.logins.map((l) => l.user)).toEqual([
      `${userPrefix}server`,
      `${userPrefix}ctl`,
      ...f().agentNames.map((name) => `${userPrefix}${name}`),
    ]);
    const listed = await rabbitmqctl(["-q", "list_permissions", "-p", vhost]);
    const reply = `^${f().prefix}_reply\\.[0-9a-f-]{36}$`;
    expect(listed).toContain(`${userPrefix}ctl\t${reply}\t^net2ban\\.input$\t${reply}`);
    expect(listed).not.toMatch(/^guest\t/m);
    const topic = await rabbitmqctl(["-q", "list_topic_permissions", "-p", vhost]);
    expect(topic).toContain(
      `${userPrefix}agent1\tnet2ban.dead\t^(${queueOf("agent1")}\\.dead|${resultsQueue()})$\t^$`,
    );
  });

  it("the printed script, run by sh as root, makes the same permissions, and running it again is safe", async () => {
    const other = `${vhost}-sh`;
    const prefix = `${other}-`;
    const printed = await f().ctl(["rabbitmq-setup", "--vhost", other, "--user-prefix", prefix]);
    expect(printed.stderr).toBe("");
    // The server's and net2banctl's logins are in the config now (from --apply above), so the script takes
    // those; the agents' logins (in the agents' files only) are made anew under the prefix.
    const users = f().agentNames.map((name) => `${prefix}${name}`);
    try {
      await sh(printed.stdout);
      await sh(printed.stdout);
      const rows = (text: string) =>
        text
          .split("\n")
          .slice(1)
          .filter((line) => line !== "")
          .map((line) => line.replace(prefix, "LOGIN-").replace(userPrefix, "LOGIN-"))
          .sort();
      const viaScript = await rabbitmqctl(["-q", "list_permissions", "-p", other]);
      const viaApply = await rabbitmqctl(["-q", "list_permissions", "-p", vhost]);
      expect(rows(viaScript)).toEqual(rows(viaApply));
      expect(rows(viaScript)).toHaveLength(2 + users.length);
      // The password in the printed config line is the one the login got (the second run set it again).
      const line = printed.stdout
        .split("\n")
        .find((l) => l.startsWith("#   url = ") && l.includes(`${prefix}agent1:`));
      const url = new URL(line!.slice("#   url = ".length));
      expect(
        await rabbitmqctl([
          "authenticate_user",
          // A base64url password may start with "-": after "--" rabbitmqctl reads it as an argument.
          "--",
          decodeURIComponent(url.username),
          decodeURIComponent(url.password),
        ]),
      ).toContain("Success");
    } finally {
      for (const user of users) await rabbitmqctl(["delete_user", user]).catch(() => {});
      await rabbitmqctl(["delete_vhost", other]).catch(() => {});
    }
    // Each rabbitmqctl call starts an Erlang VM (about a second); the script makes ~20 of them per run.
  }, 240_000);

  it("an agent's login cannot read another agent's queue nor publish to any agent queue or the input", async () => {
    const agent1 = loginUrl("agent1");
    const user = `${userPrefix}agent1`;
    const other = queueOf("agent2");
    const otherQueue = refused(`queue '${other}'`, user);
    expect(await attempt(agent1, (c) => c.consume(other, () => {}))).toMatch(otherQueue);
    expect(await attempt(agent1, (c) => c.get(other))).toMatch(otherQueue);
    expect(await attempt(agent1, (c) => c.get(f().inputQueue))).toMatch(
      refused(`queue '${f().inputQueue}'`, user),
    );
    // Nor what the other hosts report to the server.
    expect(await attempt(agent1, (c) => c.get(resultsQueue()))).toMatch(
      refused(`queue '${resultsQueue()}'`, user),
    );
    expect(await attempt(agent1, (c) => c.assertQueue(other, { durable: true }))).toMatch(otherQueue);
    expect(await attempt(agent1, (c) => c.deleteQueue(other))).toMatch(otherQueue);
    // Publishing: the default exchange reaches every queue, so it is closed to agents...
    expect(await attempt(agent1, publish("", other))).toMatch(refused("exchange 'amq.default'", user));
    expect(await attempt(agent1, publish("", queueOf("agent1")))).toMatch(
      refused("exchange 'amq.default'", user),
    );
    expect(await attempt(agent1, publish("", resultsQueue()))).toMatch(
      refused("exchange 'amq.default'", user),
    );
    expect(await attempt(agent1, publish("net2ban.input", f().inputQueue))).toMatch(
      refused("exchange 'net2ban.input'", user),
    );
    // ...and on the dead-letter exchange a topic permission leaves it its own .dead key and the results
    // queue's only (the server binds that queue there).
    expect(await attempt(agent1, publish("net2ban.dead", `${other}.dead`))).toMatch(/ACCESS_REFUSED/);
    expect(await attempt(agent1, publish("net2ban.dead", other))).toMatch(/ACCESS_REFUSED/);
    expect(await attempt(agent1, publish("net2ban.dead", f().inputQueue))).toMatch(/ACCESS_REFUSED/);
    expect(await attempt(agent1, publish("net2ban.dead", `${resultsQueue()}.dead`))).toMatch(
      /ACCESS_REFUSED/,
    );
    // What it needs: declaring and consuming its own queue.
    expect(await attempt(agent1, (c) => c.assertQueue(queueOf("agent1"), { durable: true }))).toBe("ok");
    expect(
      await attempt(agent1, async (c) =>
        c.cancel((await c.consume(queueOf("agent1"), () => {})).consumerTag),
      ),
    ).toBe("ok");
  });

  it("net2banctl's login publishes through the input exchange only and reads nothing but its reply queue", async () => {
    const ctl = loginUrl("ctl");
    const user = `${userPrefix}ctl`;
    for (const queue of [f().inputQueue, queueOf("agent1"), `${queueOf("agent1")}.dead`, resultsQueue()]) {
      expect(await attempt(ctl, (c) => c.get(queue)), queue).toMatch(refused(`queue '${queue}'`, user));
      expect(await attempt(ctl, (c) => c.consume(queue, () => {})), queue).toMatch(
        refused(`queue '${queue}'`, user),
      );
    }
    expect(await attempt(ctl, (c) => c.assertQueue(f().inputQueue, { durable: true }))).toMatch(
      refused(`queue '${f().inputQueue}'`, user),
    );
    expect(await attempt(ctl, publish("", queueOf("agent1")))).toMatch(
      refused("exchange 'amq.default'", user),
    );
    expect(await attempt(ctl, publish("net2ban.dead", `${queueOf("agent1")}.dead`))).toMatch(
      refused("exchange 'net2ban.dead'", user),
    );
    // The input exchange routes to the input queue alone: an agent's queue name is not bound there.
    expect(await attempt(ctl, publish("net2ban.input", queueOf("agent1")))).toBe("returned: NO_ROUTE");
    // Its reply queue for --wait and status: an exclusive `<queue_prefix>reply.<uuid>` of its own, declared
    // and consumed; any other name is refused.
    const reply = `${f().prefix}_reply.${randomUUID()}`;
    expect(
      await attempt(ctl, async (c) => {
        await c.assertQueue(reply, { exclusive: true, durable: false });
        await c.cancel((await c.consume(reply, () => {})).consumerTag);
      }),
    ).toBe("ok");
    const notReply = `${f().prefix}_reply.x`;
    expect(await attempt(ctl, (c) => c.assertQueue(notReply, { exclusive: true, durable: false }))).toMatch(
      refused(`queue '${notReply}'`, user),
    );
    expect(await attempt(ctl, publish("", reply))).toMatch(refused("exchange 'amq.default'", user));
  });

  it("a ban goes through every agent on those logins only, and --wait and status see every host's result", async () => {
    const fl = f();
    await fl.startAgent("agent1");
    await fl.startAgent("agent2");
    // --wait: net2banctl's login declares and reads its reply queue; each agent's login publishes its result
    // through the dead-letter exchange; the server reads them and replies. Exit 0 only if both confirmed.
    const ban = await fl.ctl([
      "ban",
      "203.0.113.61",
      "--action",
      "net2ban-demo",
      "--to",
      "agent1,agent2",
      "--wait",
      "--timeout",
      "20s",
    ]);
    expect(ban.stderr).toBe("");
    expect(ban.stdout).toContain("agent1: ok (ban");
    expect(ban.stdout).toContain("agent2: ok (ban");
    expect(ban.stdout).toContain("confirmed by all 2 host(s)");
    expect(ban.code).toBe(0);
    for (const agent of ["agent1", "agent2"]) await fl.waitForBanLine(agent, "ban 203.0.113.61");
    // The request came in through the input exchange, published with net2banctl's login.
    const forwarded = await fl.waitForLog("server", (l) => l.msg === "Forwarding: exec/net2ban-demo");
    expect(forwarded["clients"]).toBe(2);
    // status: the server's answer on net2banctl's reply queue, with both hosts' results.
    const status = await fl.ctl(["status", "203.0.113.61", "--json"]);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    const bans = (JSON.parse(status.stdout) as { bans: Array<{ hosts: Record<string, { state: string }> }> })
      .bans;
    expect(bans).toHaveLength(1);
    expect(bans[0]!.hosts).toEqual({
      agent1: expect.objectContaining({ state: "applied" }),
      agent2: expect.objectContaining({ state: "applied" }),
    });
    // No agent was refused sending its results (their start digests included).
    for (const agent of ["agent1", "agent2"]) {
      expect(fl.process(agent).lines.filter((l) => l.msg.startsWith("cannot send results"))).toEqual([]);
    }
  }, 60_000);

  it("what an agent publishes to the results queue with its own login reaches the server", async () => {
    // Not sealed by any agent: the server takes it off the queue and refuses it with one line.
    expect(await attempt(loginUrl("agent1"), publish("net2ban.dead", resultsQueue()))).toBe("ok");
    await f().waitForLog("server", (l) => l.msg === "report from an unknown client rejected");
    // ...and copies it to the results queue's .dead, through the dead-letter exchange.
    const connection = await amqp.connect(loginUrl("server"));
    try {
      const channel = await connection.createChannel();
      let dead: amqp.GetMessage | false = false;
      for (let i = 0; i < 200 && dead === false; i++) {
        dead = await channel.get(`${resultsQueue()}.dead`, { noAck: true });
        if (dead === false) await new Promise((r) => setTimeout(r, 25));
      }
      expect(dead).toMatchObject({ content: Buffer.from("forged"), fields: { exchange: "net2ban.dead" } });
    } finally {
      await connection.close();
    }
  });

  it("an agent dead-letters a message it rejects to its own .dead queue, through the dead-letter exchange", async () => {
    const queue = queueOf("agent1");
    // Only the server's login may publish to an agent's queue.
    expect(await attempt(loginUrl("server"), publish("", queue))).toBe("ok");
    await f().waitForLog("agent1", (l) => l.msg === `message moved to ${queue}.dead`);
    const connection = await amqp.connect(loginUrl("server"));
    try {
      const channel = await connection.createChannel();
      const dead = await channel.get(`${queue}.dead`, { noAck: true });
      expect(dead).toMatchObject({ content: Buffer.from("forged"), fields: { exchange: "net2ban.dead" } });
    } finally {
      await connection.close();
    }
  });

  describe("the agent as nobody with CAP_NET_ADMIN and CAP_NET_RAW only (no sudo, no root)", () => {
    const host = "h3";
    const CAPS = "-all,+net_admin,+net_raw";
    const banned = "198.51.100.23";

    it("runs the stock iptables-multiport action in its network namespace: the rule appears", async () => {
      const fl = f();
      await sweepStaleNetworks();
      network = await TestNetwork.create({ nodes: [host], subnet: "10.78.0" });
      await network.relayBroker(BROKER.toString(), [host]);
      // The operator's install: action files, config and state readable (and the state writable) by the
      // service user only. Here that user is nobody.
      const dir = fl.agentDir(CAPABLE);
      await cp("/etc/fail2ban/action.d", join(dir, "actions"), { recursive: true });
      await chmod(fl.dir, 0o711);
      await execFileAsync("chown", ["-R", `${NOBODY_UID}:${NOBODY_UID}`, dir]);
      await chown(fl.agentConfigPath(CAPABLE), NOBODY_UID, NOBODY_UID);

      // nobody may not be able to read the checkout (CI clones under a 0700 directory): run a bundle of
      // the agent placed in the fleet's directory instead.
      const bin = await bundleAgent(fl.dir);
      await chmod(bin, 0o644);
      const proc = await fl.startAgent(CAPABLE, {
        bin,
        prefix: [
          ...network.prefix(host),
          "setpriv",
          "--reuid=nobody",
          "--regid=nogroup",
          "--clear-groups",
          `--inh-caps=${CAPS}`,
          `--ambient-caps=${CAPS}`,
          `--bounding-set=${CAPS}`,
        ],
      });
      // The daemon itself (ip netns exec and setpriv exec, they do not fork) runs as nobody with exactly
      // those two capabilities: CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13.
      const status = await readFile(`/proc/${proc.child.pid}/status`, "utf8");
      expect(status).toMatch(
        new RegExp(`^Uid:\\s+${NOBODY_UID}\\s+${NOBODY_UID}\\s+${NOBODY_UID}\\s+${NOBODY_UID}$`, "m"),
      );
      expect(status).toMatch(/^CapEff:\s+0000000000003000$/m);
      expect(status).toMatch(/^CapAmb:\s+0000000000003000$/m);

      const ban = await fl.ctl([
        "ban",
        banned,
        "port=22",
        "--action",
        "iptables-multiport",
        "--name",
        "sshd",
        "--to",
        CAPABLE,
      ]);
      expect(ban.stderr).toBe("");
      expect(ban.code).toBe(0);
      await fl.waitForLog(
        CAPABLE,
        (l) => l.msg === `IP ${banned} banned` && l["file"] === "iptables-multiport",
        20_000,
      );
      const rules = await network.exec(host, ["iptables", "-w", "-S", "f2b-sshd"]);
      expect(rules.split("\n")).toContain(
        `-A f2b-sshd -s ${banned}/32 -j REJECT --reject-with icmp-port-unreachable`,
      );

      // actionstop on SIGTERM runs with the same two capabilities and removes the chain.
      expect(await fl.stop(CAPABLE)).toBe(0);
      expect(await network.exec(host, ["iptables", "-w", "-S"])).not.toContain("f2b-sshd");
    }, 90_000);
  });
});

/** Runs a script with sh as this (root) process, as an operator would on the broker host. */
function sh(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile("sh", ["-s"], { timeout: 120_000 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`sh failed: ${stderr.trim() || error.message}`));
    });
    child.stdin?.end(script);
  });
}

function execFileAsync(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`${file} ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
    });
  });
}
