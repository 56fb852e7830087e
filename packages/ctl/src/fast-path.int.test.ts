// The fast path and the full yargs CLI send the same request, print the same lines and exit with the same
// code for the same arguments: both run against the real broker and the messages are opened and compared.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseConfig } from "@net2ban/config";
import { createCodec, type Net2banMessage } from "@net2ban/protocol";
import { brokerUrl, requireBroker, type TempDir, tempDir, uniquePrefix } from "@net2ban/test-utils";
import { type Broker, type Consumer, connectBroker } from "@net2ban/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFull } from "./cli.js";
import { parseFastCommand } from "./fast-path.js";
import { run } from "./main.js";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe("net2banctl fast path against the full CLI", () => {
  let dir: TempDir;
  let configPath: string;
  let broker: Broker;
  let consumer: Consumer;
  let open: (body: Buffer) => Net2banMessage;
  let inputQueue: string;
  const received: Net2banMessage[] = [];

  beforeAll(async () => {
    await requireBroker();
    dir = await tempDir("ctl-fast");
    const prefix = uniquePrefix("ctl-fast").replace(/-$/, "");
    inputQueue = `${prefix}_input`;
    const text = [
      "[global]",
      `url = ${brokerUrl()}`,
      "rounds = 1000",
      "secret = fast path secret",
      "authkey = fast path authkey",
      "mode = server",
      `queue_prefix = ${prefix}_`,
      "",
      "[server]",
      `input = ${inputQueue}`,
      "key = fast path server key",
      "",
      "[client1]",
      "key = client1 key",
      "",
    ].join("\n");
    configPath = join(dir.path, "net2ban.cfg");
    await writeFile(configPath, text, { mode: 0o600 });
    const server = parseConfig(text, configPath).config.server!;
    const codec = await createCodec({ protocol: 2, keyId: "server", direction: "to-server", keys: server });
    open = (body) => codec.open(body).message;
    broker = await connectBroker({ urls: [brokerUrl()], logger: quiet });
    await broker.assertQueue({ name: inputQueue });
    consumer = await broker.consume({ prefetch: 10, queue: { name: inputQueue } }, async (delivery) => {
      received.push(open(delivery.body));
      return "ack";
    });
  });

  afterAll(async () => {
    await consumer?.cancel();
    await broker?.deleteQueue(inputQueue).catch(() => {});
    await broker?.deleteQueue(`${inputQueue}.dead`).catch(() => {});
    await broker?.close();
    await dir?.remove();
  });

  async function invoke(runner: typeof run, argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runner(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  }

  async function nextMessages(count: number): Promise<Net2banMessage[]> {
    const deadline = Date.now() + 10_000;
    while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return received.splice(0, count);
  }

  /** What must match: everything but the per-message id, timestamp and expiry. */
  function comparable(message: Net2banMessage) {
    const {
      id: _id,
      timestamp: _timestamp,
      expires: _expires,
      ...rest
    } = message as Net2banMessage & {
      expires?: number;
    };
    return rest;
  }

  const sends: string[][] = [
    ["exec", "net2ban-demo", "actionban", "ip=203.0.113.9", "name=web"],
    ["ban", "203.0.113.9"],
    ["ban", "198.51.100.0/24", "port=22", "--action", "nftables", "--name=sshd"],
    ["unban", "2001:db8::1", "--to", "client1"],
    ["--json", "ban", "192.0.2.7", "--to=client1,client2"],
    ["ban", "--to", "client1", "203.0.113.9"],
    ["exec", "--to", "client1", "net2ban-demo", "actionban", "ip=203.0.113.9"],
  ];

  it.each(sends.map((argv) => [argv.join(" "), argv]))("sends the same request: %s", async (_label, argv) => {
    // -c and --config alternate, so that both spellings go through both parsers.
    const args = [
      sends.indexOf(argv as string[]) % 2 === 0 ? "--config" : "-c",
      configPath,
      ...(argv as string[]),
    ];
    expect(parseFastCommand(args), "the fast path must take this one").toBeDefined();
    const fast = await invoke(run, args);
    const [fromFast] = await nextMessages(1);
    const full = await invoke(runFull, args);
    const [fromFull] = await nextMessages(1);
    expect(fast.code).toBe(0);
    expect(full.code).toBe(0);
    expect(fast.err).toEqual(full.err);
    const withoutId = (lines: string[]) => lines.map((l) => l.replace(/[0-9a-f-]{36}/g, "<id>"));
    expect(withoutId(fast.out)).toEqual(withoutId(full.out));
    expect(fromFast).toBeDefined();
    expect(comparable(fromFast!)).toEqual(comparable(fromFull!));
  });

  const failures: string[][] = [
    ["ban", "203.0.113.300"],
    ["exec", "net2ban-demo", "actionban", "no-equals-sign"],
    ["ban", "192.0.2.1", "--action", "../etc/passwd"],
  ];

  it.each(failures.map((argv) => [argv.join(" "), argv]))("fails the same way: %s", async (_label, argv) => {
    const args = ["--config", configPath, ...(argv as string[])];
    expect(parseFastCommand(args)).toBeDefined();
    const fast = await invoke(run, args);
    const full = await invoke(runFull, args);
    expect(fast.code).not.toBe(0);
    expect(fast).toEqual(full);
    expect(await nextMessages(0)).toEqual([]);
    expect(received).toEqual([]);
  });

  it("a missing config fails with exit 2 on both paths", async () => {
    const args = ["--config", join(dir.path, "missing.cfg"), "ban", "192.0.2.1"];
    const fast = await invoke(run, args);
    expect(fast.code).toBe(2);
    expect(fast).toEqual(await invoke(runFull, args));
  });

  it("what the fast path declines still works, through yargs", async () => {
    const help = await invoke(run, ["--help"]);
    expect(help.code).toBe(0);
    expect(help.out.join("\n")).toContain("net2banctl ban <ip>");
    const clients = await invoke(run, ["--config", configPath, "list_clients"]);
    expect(clients).toEqual({ code: 0, out: ["client1"], err: [] });
    expect(await invoke(run, ["-c", configPath, "list-clients"])).toEqual(clients);
  });
});
