// SIGTERM stops net2ban-server cleanly (exit 0, "stopping" then "stopped") at start-up while RabbitMQ has
// never answered (a closed port), instead of dying from the signal mid-retry. A real process from its bin
// (built dist); no broker needed.

import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort, type TempDir, tempDir, waitFor } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../bin/net2ban-server.js", import.meta.url));

describe("net2ban-server stops on SIGTERM while RabbitMQ is down", () => {
  let dir: TempDir;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await tempDir("server-stop");
  });

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await dir?.remove();
  });

  it("at start-up, when the broker never answered", async () => {
    const text = [
      "[global]",
      `url = amqp://guest:guest@127.0.0.1:${await freePort()}/`,
      "rounds = 1000",
      "secret = stop test secret",
      "mode = server",
      "authkey = stop test authkey",
      "queue_prefix = n2bt_server_stop_",
      `actions_dir = ${join(dir.path, "actions")}`,
      `state_dir = ${join(dir.path, "state")}`,
      "",
      "[server]",
      "key = stop test server key",
      "",
      "[web1]",
      "key = stop test key",
      "",
    ].join("\n");
    const configPath = join(dir.path, "net2ban.cfg");
    await writeFile(configPath, text, { mode: 0o600 });

    const server = spawn(process.execPath, [BIN, "--config", configPath], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = server;
    const messages: string[] = [];
    let stderr = "";
    createInterface({ input: server.stdout! }).on("line", (line) => {
      try {
        messages.push(String((JSON.parse(line) as { msg?: unknown }).msg));
      } catch {
        messages.push(line);
      }
    });
    server.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      server.once("exit", (code, signal) => resolve({ code, signal })),
    );

    await waitFor(() => messages.filter((m) => m.startsWith("RabbitMQ unreachable; retrying")).length >= 2, {
      what: "the server to retry the connection twice",
      timeoutMs: 20_000,
    });
    server.kill("SIGTERM");
    expect(await exited, messages.join("\n") + stderr).toEqual({ code: 0, signal: null });
    expect(messages).toContain("stopping");
    expect(messages.slice(-1)).toEqual(["stopped"]);
    expect(messages.some((m) => m.startsWith("net2ban server started"))).toBe(false);
    expect(stderr).toBe("");
  });
});
