// Values the message schema refuses (a param over 4096 characters, an update over 1 MiB of base64) are bad
// input: exit 2, one line naming the command and the field, and nothing reaches the input queue, even
// though exec/ban start connecting before the request is built (startPublisher). Real RabbitMQ.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureCli, memoryLogger } from "@net2ban/test-utils";
import { type Broker, connectBroker } from "@net2ban/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFull } from "./cli.js";
import { run } from "./main.js";

const url = process.env["NET2BAN_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/";
const prefix = `n2blimits${randomBytes(4).toString("hex")}`;
const input = `${prefix}_input`;
let dir = "";
let path = "";
let broker: Broker;
/** Messages waiting in the input queue. */
const waiting = async () => (await broker.queueInfo(input))?.messageCount;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "net2ban-ctl-limits-"));
  path = join(dir, "net2ban.cfg");
  await writeFile(
    path,
    `[global]\nurl = ${url}\nrounds = 1000\nsecret = s\nauthkey = a\nmode = server\nqueue_prefix = ${prefix}_\nallow_params = note\n\n[server]\ninput = ${input}\nkey = k\n\n[client1]\nkey = k1\n`,
    { mode: 0o600 },
  );
  broker = await connectBroker({ urls: [url], logger: memoryLogger(), recover: false });
  await broker.assertQueue({ name: input });
});

afterAll(async () => {
  await broker?.deleteQueue(input);
  await broker?.close();
  await rm(dir, { recursive: true, force: true });
});

const ctl = (runner: typeof run, ...argv: string[]) => captureCli(runner, ["--config", path, ...argv]);

describe.each([
  ["fast path", run],
  ["full CLI", runFull],
])("net2banctl (%s)", (_label, runner) => {
  it("a param longer than 4096 characters: exit 2, one line naming it, nothing sent", async () => {
    const long = "x".repeat(4097);
    expect(await ctl(runner, "exec", "net2ban-demo", "actionban", "ip=203.0.113.9", `note=${long}`)).toEqual({
      code: 2,
      out: [],
      err: ['net2banctl: exec/net2ban-demo actionban: "params.note" expected at most 4096 characters'],
    });
    expect(await ctl(runner, "ban", "203.0.113.9", `note=${long}`)).toEqual({
      code: 2,
      out: [],
      err: ['net2banctl: ban 203.0.113.9: "params.note" expected at most 4096 characters'],
    });
    // At the bound it goes through: the refusal is the schema's, not a guess.
    const atBound = await ctl(
      runner,
      "exec",
      "net2ban-demo",
      "actionban",
      "ip=203.0.113.9",
      `note=${"x".repeat(4096)}`,
    );
    expect(atBound.code).toBe(0);
    expect(await waiting()).toBe(1);
    await broker.deleteQueue(input);
    await broker.assertQueue({ name: input });
  });
});

it("an update over the 1 MiB bound: exit 2 naming the file and the bound, nothing sent", async () => {
  const file = join(dir, "big.conf");
  await writeFile(file, `[Definition]\nactionban = true # ${"#".repeat(10)}\n${"a".repeat(800_000)}\n`);
  // What update would send: the file without its comment and trailing blanks.
  const sent = `[Definition]\nactionban = true\n${"a".repeat(800_000)}`;
  const result = await ctl(runFull, "update", "client1", file);
  expect(result).toEqual({
    code: 2,
    out: [],
    err: [
      `net2banctl: update: ${file}: ${sent.length} bytes without comments and blank lines; an update carries at most 786432 bytes`,
    ],
  });
  expect(await waiting()).toBe(0);
});
