// `update` on the agent: with allow_update = no (its section or [global]) an action file sent by
// `net2banctl update` is refused with one line and nothing is written; by default it is installed.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionEngine } from "@net2ban/actions";
import { parseConfig } from "@net2ban/config";
import { createCodec, createUpdateRequest } from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import type { Broker } from "@net2ban/transport";
import { afterEach, describe, expect, it } from "vitest";
import { Net2banAgent } from "./agent.js";

const config = (global: string, own: string) => `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = s
mode = client
authkey = a
${global}
[web1]
key = k1
${own}`;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function sendUpdate(text: string) {
  const actionsDir = await mkdtemp(join(tmpdir(), "net2ban-agent-update-"));
  dirs.push(actionsDir);
  const lines: { level: string; msg: string }[] = [];
  const log = (level: string) => (_o: object, msg?: string) => lines.push({ level, msg: msg ?? "" });
  const logger = { info: log("info"), warn: log("warn"), error: log("error"), debug: () => undefined };
  const engine = new ActionEngine({ actionsDir, logger });
  const peer = parseConfig(text, "web1.cfg").config.clients[0]!;
  const agent = await Net2banAgent.create({
    peer,
    broker: {} as Broker,
    logger: logger as unknown as Logger,
    engine,
    actionsDir,
    prefetch: 1,
  });
  const codec = await createCodec({ protocol: 2, keyId: "web1", direction: "to-agent", keys: peer });
  const content = Buffer.from("[Definition]\nactionban = touch /tmp/pwned\n").toString("base64");
  const verdict = await agent.handleCommand({
    body: codec.seal(createUpdateRequest({ file: "custom", content, client: "web1", sender: "test" })),
    redelivered: false,
    deliveryTag: 1,
    headers: {},
  });
  return { verdict, lines, files: await readdir(actionsDir), actionsDir };
}

describe("agent update", () => {
  it("is installed by default (the original's behaviour)", async () => {
    const { verdict, files, actionsDir, lines } = await sendUpdate(config("", ""));
    expect(verdict).toBe("ack");
    expect(files).toEqual(["custom.conf"]);
    expect(await readFile(join(actionsDir, "custom.conf"), "utf8")).toContain("actionban = touch");
    expect(lines.map((l) => l.msg)).toContain('File "custom" updated');
  });

  it.each([
    ["its own section", "", "allow_update = no\n"],
    ["[global]", "allow_update = False\n", ""],
  ])("is refused with allow_update = no in %s: one line, nothing written", async (_where, global, own) => {
    const { verdict, files, lines } = await sendUpdate(config(global, own));
    expect(verdict).toBe("reject");
    expect(files).toEqual([]);
    expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      'update of "custom" refused: allow_update = no on this agent',
    ]);
  });

  it("its own section wins over [global]", async () => {
    const { verdict, files } = await sendUpdate(config("allow_update = no\n", "allow_update = yes\n"));
    expect(verdict).toBe("ack");
    expect(files).toEqual(["custom.conf"]);
  });

  it("a value that is not yes or no is a config error naming the key", () => {
    expect(() => parseConfig(config("", "allow_update = maybe\n"), "web1.cfg")).toThrow(
      'web1.cfg: [web1] allow_update: expected yes or no, got "maybe"',
    );
  });
});
