// SIGTERM stops net2ban-agent cleanly (exit 0, "stopping" then "stopped") while RabbitMQ is down: at
// start-up, when the broker has never answered, and after the broker it was consuming from went away.
// The agent runs as a real process from its bin (built dist), against a private RabbitMQ node.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  freePort,
  type PrivateNode,
  startPrivateNode,
  stopPrivateNode,
  type TempDir,
  tempDir,
  waitFor,
} from "@net2ban/test-utils";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../bin/net2ban-agent.js", import.meta.url));

interface AgentProcess {
  child: ChildProcess;
  messages: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startAgent(configPath: string): AgentProcess {
  const child = spawn(process.execPath, [BIN, "--config", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  const messages: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      messages.push(String((JSON.parse(line) as { msg?: unknown }).msg));
    } catch {
      messages.push(line);
    }
  });
  child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, messages, stderr, exited };
}

describe("net2ban-agent stops on SIGTERM while RabbitMQ is down", () => {
  let dir: TempDir;
  let node: PrivateNode | undefined;
  const agents: AgentProcess[] = [];

  async function writeConfig(name: string, url: string): Promise<string> {
    const base = join(dir.path, name);
    await mkdir(join(base, "actions"), { recursive: true });
    const text = [
      "[global]",
      `url = ${url}`,
      "rounds = 1000",
      "secret = stop test secret",
      "mode = client",
      "authkey = stop test authkey",
      `queue_prefix = n2bt_stop_${name}_`,
      `actions_dir = ${join(base, "actions")}`,
      `state_dir = ${join(base, "state")}`,
      "",
      "[web1]",
      "key = stop test key",
      "protocol = 2",
      "",
    ].join("\n");
    const path = join(base, "net2ban.cfg");
    await writeFile(path, text, { mode: 0o600 });
    return path;
  }

  beforeAll(async () => {
    dir = await tempDir("agent-stop");
  });

  afterEach(() => {
    for (const agent of agents.splice(0)) {
      if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill("SIGKILL");
    }
  });

  afterAll(async () => {
    if (node !== undefined) await stopPrivateNode(node);
    await dir?.remove();
  }, 60_000);

  async function expectCleanStop(agent: AgentProcess): Promise<void> {
    agent.child.kill("SIGTERM");
    const exit = await agent.exited;
    expect(exit, agent.messages.join("\n") + agent.stderr.join("")).toEqual({ code: 0, signal: null });
    expect(agent.messages.slice(-1)).toEqual(["stopped"]);
    expect(agent.messages).toContain("stopping");
    expect(agent.stderr.join("")).toBe("");
  }

  it("at start-up, when the broker never answered", async () => {
    const agent = startAgent(await writeConfig("never", `amqp://guest:guest@127.0.0.1:${await freePort()}/`));
    agents.push(agent);
    await waitFor(
      () => agent.messages.filter((m) => m.startsWith("RabbitMQ unreachable; retrying")).length >= 2,
      {
        what: "the agent to retry the connection twice",
        timeoutMs: 20_000,
      },
    );
    expect(agent.messages).not.toContain("net2ban agent web1 started");
    await expectCleanStop(agent);
  });

  it("after the broker it consumed from went away", async () => {
    node = await startPrivateNode();
    const agent = startAgent(await writeConfig("lost", node.url));
    agents.push(agent);
    await waitFor(() => agent.messages.includes("net2ban agent web1 started"), {
      what: "the agent to start",
      timeoutMs: 20_000,
    });
    await stopPrivateNode(node);
    node = undefined;
    await waitFor(
      () => agent.messages.filter((m) => m.startsWith("RabbitMQ unreachable; retrying")).length >= 2,
      {
        what: "the agent to retry the connection twice",
        timeoutMs: 20_000,
      },
    );
    await expectCleanStop(agent);
  }, 120_000);
});
