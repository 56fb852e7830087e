// The agent's self-lockout guard: whoever put a command in its queue, a ban of a protected address is
// refused with one line and nothing runs; unbans still run.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionEngine } from "@net2ban/actions";
import { Allowlist, localInterfaceAddresses, parseConfig } from "@net2ban/config";
import { createCodec, createExecRequest } from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import type { Broker } from "@net2ban/transport";
import { afterEach, describe, expect, it } from "vitest";
import { Net2banAgent } from "./agent.js";

const CONFIG = `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = s
mode = client
authkey = a

[web1]
key = k1
`;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function agentWith(allowlist?: Allowlist) {
  const actionsDir = await mkdtemp(join(tmpdir(), "net2ban-agent-guard-"));
  dirs.push(actionsDir);
  await writeFile(
    join(actionsDir, "demo.conf"),
    "[Definition]\nactionban = echo ban <ip>\nactionunban = echo unban <ip>\n",
  );
  const lines: { level: string; msg: string }[] = [];
  const log = (level: string) => (_o: object, msg?: string) => lines.push({ level, msg: msg ?? "" });
  const logger = { info: log("info"), warn: log("warn"), error: log("error"), debug: () => undefined };
  const ran: string[] = [];
  const engine = new ActionEngine({
    actionsDir,
    logger,
    run: async (command) => {
      ran.push(typeof command === "string" ? command : JSON.stringify(command));
      return {
        exitCode: 0,
        signal: null,
        stdout: "",
        stderr: "",
        durationMs: 0,
        timedOut: false,
        aborted: false,
        stdoutTruncated: false,
        stderrTruncated: false,
      };
    },
  });
  const peer = parseConfig(CONFIG, "web1.cfg").config.clients[0]!;
  const agent = await Net2banAgent.create({
    peer,
    broker: {} as Broker,
    logger: logger as unknown as Logger,
    engine,
    actionsDir,
    prefetch: 1,
    ...(allowlist === undefined ? {} : { allowlist }),
  });
  const codec = await createCodec({ protocol: 2, keyId: "web1", direction: "to-agent", keys: peer });
  const send = (ip: string, action = "actionban") =>
    agent.handleCommand({
      body: codec.seal(createExecRequest({ file: "demo", action, params: { ip }, sender: "test" })),
      redelivered: false,
      deliveryTag: 1,
      headers: {},
    });
  return { send, lines, ran };
}

describe("agent guard", () => {
  it("refuses a ban inside its ignoreip with one line naming the entry; nothing runs", async () => {
    const a = await agentWith(Allowlist.of("[global]", ["10.0.0.0/8"]));
    expect(await a.send("10.1.2.3")).toBe("reject");
    expect(await a.send("10.0.0.0/7")).toBe("reject");
    expect(a.lines).toEqual([
      { level: "error", msg: "ban 10.1.2.3 refused: 10.0.0.0/8 is in ignoreip ([global])" },
      { level: "error", msg: "ban 10.0.0.0/7 refused: 10.0.0.0/8 is in ignoreip ([global])" },
    ]);
    expect(a.ran).toEqual([]);
  });

  it("lets the unban of a protected address run, and a ban of anything else", async () => {
    const a = await agentWith(Allowlist.of("[global]", ["10.0.0.0/8"]));
    expect(await a.send("10.1.2.3", "actionunban")).toBe("ack");
    expect(await a.send("198.51.100.7")).toBe("ack");
    expect(a.ran).toEqual(["echo unban 10.1.2.3", "echo ban 198.51.100.7"]);
  });

  it("without an allowlist it still protects loopback and this host's own addresses", async () => {
    const a = await agentWith();
    const own = localInterfaceAddresses().filter((ip) => !ip.startsWith("127.") && ip !== "::1");
    for (const ip of ["127.0.0.1", "::1", ...own]) {
      expect(await a.send(ip)).toBe("reject");
      expect(a.lines.at(-1)?.msg).toMatch(
        new RegExp(
          `^ban ${ip.replaceAll(".", "\\.")} refused: .* is in ignoreip \\(default: (loopback|this host)\\)$`,
        ),
      );
    }
    expect(a.ran).toEqual([]);
  });

  it("an operation that is not fail2ban's is refused for good with one line, not retried", async () => {
    const a = await agentWith(new Allowlist());
    expect(await a.send("198.51.100.7", "constructor")).toBe("reject");
    expect(a.lines).toEqual([
      { level: "error", msg: 'param "action" refused: "constructor" is not a fail2ban operation' },
    ]);
    expect(a.ran).toEqual([]);
  });
});
