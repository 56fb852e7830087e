// net2banctl with a file from `net2banctl get_publisher`: it seals with the publisher's key (its name is the
// key id the server reads), so the server takes its ban in the ledger under that name, and tells its --wait
// caller, sealed with the same key, why a request outside its rights was refused. Real RabbitMQ, real server.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "@net2ban/config";
import { run, runFull } from "@net2ban/ctl";
import { KeyCache } from "@net2ban/protocol";
import { Net2banServer, type ServerOptions, ServerState } from "@net2ban/server";
import { captureCli, memoryLogger } from "@net2ban/test-utils";
import { type Broker, connectBroker } from "@net2ban/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const url = process.env["NET2BAN_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/";
const prefix = `n2bpub${randomBytes(4).toString("hex")}`;
let dir = "";
let serverPath = "";
let publisherPath = "";
let broker: Broker;
let server: Net2banServer;
let state: ServerState;
const logger = memoryLogger();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "net2ban-ctl-publisher-"));
  serverPath = join(dir, "net2ban.cfg");
  const text = `[global]\nurl = ${url}\nrounds = 1000\nsecret = s\nauthkey = a\nmode = server\nqueue_prefix = ${prefix}_\nstate_dir = ${dir}/state\n\n[server]\ninput = ${prefix}_input\nkey = server-key\naccept_server_key = no\n\n[web1]\nkey = k1\n\n[publisher:detect1]\nkey = detect1-key\n`;
  await writeFile(serverPath, text, { mode: 0o600 });
  const exported = await captureCli(run, ["--config", serverPath, "get_publisher", "detect1"]);
  expect(exported.code).toBe(0);
  expect(exported.out.join("\n")).not.toContain("server-key");
  publisherPath = join(dir, "detect1.cfg");
  await writeFile(publisherPath, `${exported.out.join("\n")}\n`, { mode: 0o600 });

  const { config } = parseConfig(text, serverPath);
  broker = await connectBroker({ urls: [url], logger: memoryLogger(), recover: false });
  const keyCache = new KeyCache();
  const options = { broker, logger: logger as unknown as ServerOptions["logger"], keyCache };
  state = await ServerState.open({ config, ...options });
  server = await Net2banServer.create(config, {
    ...options,
    state,
    protectedAddresses: { localAddresses: () => [], resolveHost: false },
  });
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  for (const queue of ["input", "web1", "results", "input.dead", "results.dead", "web1.dead"]) {
    await broker?.deleteQueue(`${prefix}_${queue}`).catch(() => undefined);
  }
  await broker?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("net2banctl with a publisher file", () => {
  it("ban --wait: taken under the publisher's name (the web1 agent is absent: no confirmation)", async () => {
    const result = await captureCli(runFull, [
      "--config",
      publisherPath,
      "ban",
      "203.0.113.9",
      "--for",
      "10m",
      "--wait",
      "--timeout",
      "1s",
    ]);
    expect(result.err.join("\n")).not.toContain("refused");
    expect(state.ledger.active().map((b) => [b.ip, b.publisher])).toEqual([["203.0.113.9", "detect1"]]);
  });

  it("fail2ban's exec actionban (fast path) is taken too; exec of another operation is refused", async () => {
    const ok = await captureCli(run, [
      "--config",
      publisherPath,
      "exec",
      "iptables-multiport",
      "actionban",
      "ip=203.0.113.10",
      "bantime=600",
      "name=sshd",
    ]);
    expect(ok.code).toBe(0);
    const refused = await captureCli(runFull, [
      "--config",
      publisherPath,
      "exec",
      "iptables-multiport",
      "actionstart",
      "--wait",
      "--timeout",
      "5s",
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.err.join("\n")).toContain(
      "refused by the server: publisher detect1 may not send exec ([publisher:detect1] commands = ban, unban)",
    );
    await expect.poll(() => state.ledger.active().map((b) => b.ip)).toContain("203.0.113.10");
    expect(logger.find("warn", "publisher detect1 may not send exec")).toHaveLength(1);
  });

  it("the [server] key is refused with accept_server_key = no", async () => {
    const before = logger.find("warn", "accept_server_key = no").length;
    expect((await captureCli(run, ["--config", serverPath, "ban", "203.0.113.11"])).code).toBe(0);
    await expect.poll(() => logger.find("warn", "accept_server_key = no").length).toBe(before + 1);
    expect(state.ledger.active().map((b) => b.ip)).not.toContain("203.0.113.11");
  });
});
