// net2banctl check-config against the shared broker: every node listed as answering or not, each queue's
// type against queue_type, and a queue of another type as an error (exit 2) naming what to do.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  brokerUrl,
  captureCli,
  cleanupQueues,
  freePort,
  requireBroker,
  type TempDir,
  tempDir,
  uniquePrefix,
} from "@net2ban/test-utils";
import { type Broker, connectBroker } from "@net2ban/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFull } from "./cli.js";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const checkConfig = (args: string[]) => captureCli(runFull, ["check-config", ...args]);

describe("net2banctl check-config and the broker", () => {
  let dir: TempDir;
  let prefix: string;
  let broker: Broker;
  let deadUrl: string;

  async function writeConfig(name: string, clients: Record<string, "classic" | "quorum">): Promise<string> {
    const lines = [
      "[global]",
      `url = ${deadUrl}, ${brokerUrl()}`,
      "rounds = 1000",
      "secret = s",
      "authkey = a",
      "mode = server",
      `queue_prefix = ${prefix}`,
      "",
      "[server]",
      `input = ${prefix}input`,
      "key = server key",
      "queue_type = quorum",
      "",
    ];
    for (const [client, type] of Object.entries(clients))
      lines.push(`[${client}]`, "key = k", `queue_type = ${type}`, "");
    const path = join(dir.path, name);
    await writeFile(path, lines.join("\n"), { mode: 0o600 });
    return path;
  }

  beforeAll(async () => {
    await requireBroker();
    dir = await tempDir("ctl-check");
    prefix = uniquePrefix("ctl-check").replace(/-$/, "_");
    deadUrl = `amqp://guest:hunter22@127.0.0.1:${await freePort()}/`;
    broker = await connectBroker({ urls: [brokerUrl()], logger: quiet });
    await broker.assertQueue({ name: `${prefix}input`, queueType: "quorum" });
    await broker.assertQueue({ name: `${prefix}web1` });
  });

  afterAll(async () => {
    await broker?.close();
    await cleanupQueues(prefix);
    await dir?.remove();
  });

  it("lists each node and each queue; queues as configured or missing are fine", async () => {
    const path = await writeConfig("ok.cfg", { web1: "classic", web2: "quorum" });
    const result = await checkConfig(["--config", path]);
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.out[0]).toBe(`${path}: ok (mode server, 2 clients, broker 2 node(s))`);
    expect(result.out[1]).toMatch(
      /^node amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/: no answer \(.*ECONNREFUSED/,
    );
    expect(result.out[2]).toMatch(/^node amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672\/: answers \(RabbitMQ \d/);
    expect(result.out.slice(3)).toEqual([
      `queue ${prefix}input: quorum, as configured; 0 messages, 0 consumers`,
      `queue ${prefix}results: missing (declared as quorum when net2ban starts)`,
      `queue ${prefix}web1: classic, as configured; 0 messages, 0 consumers`,
      `queue ${prefix}web2: missing (declared as quorum when net2ban starts)`,
    ]);
    expect(result.out.join("\n")).not.toContain("hunter22");
  });

  it("a queue of another type than queue_type is an error, exit 2, with what to do", async () => {
    const path = await writeConfig("clash.cfg", { web1: "quorum" });
    const result = await checkConfig(["--config", path]);
    expect(result.code).toBe(2);
    expect(result.out).toContain(
      `queue ${prefix}web1: classic, but configured quorum; 0 messages, 0 consumers`,
    );
    expect(result.err).toEqual([
      `net2banctl: queue "${prefix}web1" exists as a classic queue but queue_type is quorum; RabbitMQ cannot change a queue in place: set queue_type to match, or move the queue (docs/operations.md, "Moving a live fleet from classic to quorum queues")`,
    ]);
    const json = await checkConfig(["--config", path, "--json"]);
    expect(json.code).toBe(2);
    const report = JSON.parse(json.out[0] ?? "{}") as { ok: boolean; queues: { existing: string }[] };
    expect(report.ok).toBe(false);
    expect(report.queues.map((q) => q.existing)).toEqual(["quorum", "missing", "classic"]);
  });

  it("--offline checks the file only", async () => {
    const path = await writeConfig("offline.cfg", { web1: "quorum" });
    const result = await checkConfig(["--config", path, "--offline"]);
    expect(result).toEqual({
      code: 0,
      out: [`${path}: ok (mode server, 1 clients, broker 2 node(s))`],
      err: [],
    });
  });

  it("--strict fails with one line when no node answers; without it, a warning", async () => {
    const path = join(dir.path, "down.cfg");
    await writeFile(
      path,
      `[global]\nurl = ${deadUrl}\nrounds = 1000\nsecret = s\nauthkey = a\nmode = server\n\n[server]\nkey = k\n`,
      { mode: 0o600 },
    );
    const strict = await checkConfig(["--config", path, "--strict"]);
    expect(strict.code).toBe(3);
    expect(strict.err).toEqual(["net2banctl: no node of the broker answered (1 tried); queues not checked"]);
    const lenient = await checkConfig(["--config", path]);
    expect(lenient.code).toBe(0);
    expect(lenient.err).toEqual(["warning: no node of the broker answered; queues not checked"]);
    // One node answering is enough.
    const okPath = await writeConfig("strict-ok.cfg", { web1: "classic" });
    expect((await checkConfig(["--config", okPath, "--strict"])).code).toBe(0);
  });
});
