// Private RabbitMQ nodes (needs root and rabbitmq-server): start, crash, restart with data kept, stop;
// the nodes of a killed test runner are swept by the next start.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  brokerUrl,
  killPrivateNode,
  type PrivateNode,
  requireBroker,
  restartPrivateNode,
  startPrivateNode,
  stopPrivateNode,
  type TempDir,
  tempDir,
  waitFor,
} from "./index.js";

describe("private RabbitMQ node", () => {
  let node: PrivateNode;

  beforeAll(async () => {
    node = await startPrivateNode();
  }, 120_000);

  afterAll(async () => {
    if (node !== undefined) await stopPrivateNode(node);
  }, 60_000);

  it("serves AMQP on its own port, survives SIGKILL + restart with durable data, and is removed on stop", async () => {
    expect(node.port).not.toBe(5672);
    const queue = "private-node-probe";
    const first = await amqp.connect(node.url);
    first.on("error", () => {});
    const closed = new Promise((resolve) => first.once("close", resolve));
    const channel = await first.createConfirmChannel();
    channel.on("error", () => {});
    await channel.assertQueue(queue, { durable: true });
    channel.sendToQueue(queue, Buffer.from("kept"), { persistent: true });
    await channel.waitForConfirms();

    await killPrivateNode(node);
    await closed;
    await expect(amqp.connect(node.url, { timeout: 2_000 })).rejects.toThrow();

    await restartPrivateNode(node);
    const second = await amqp.connect(node.url);
    second.on("error", () => {});
    try {
      // The node answers before it has recovered its queues: a get before that is a 404, which closes
      // the channel, so each try takes a channel of its own.
      const message = await waitFor(
        async () => {
          const ch = await second.createChannel();
          ch.on("error", () => {});
          try {
            return await ch.get(queue, { noAck: true });
          } catch {
            return false;
          } finally {
            await ch.close().catch(() => {});
          }
        },
        { what: "the persistent message back" },
      );
      expect(message.content.toString()).toBe("kept");
    } finally {
      await second.close();
    }

    await stopPrivateNode(node);
    expect(existsSync(node.dir)).toBe(false);
    await expect(amqp.connect(node.url, { timeout: 2_000 })).rejects.toThrow();
    await stopPrivateNode(node);
  }, 120_000);
});

// A test runner of its own: starts a node with the built test-utils, prints it, stops it on SIGTERM.
const OWNER_SCRIPT = `
import { startPrivateNode, stopPrivateNode } from ${JSON.stringify(fileURLToPath(new URL("../dist/index.js", import.meta.url)))};
const node = await startPrivateNode();
process.on("SIGTERM", () => stopPrivateNode(node).then(() => process.exit(0), () => process.exit(1)));
process.stdout.write(JSON.stringify(node) + "\\n");
setInterval(() => {}, 60_000);
`;

interface Owner {
  child: ChildProcess;
  node: Promise<PrivateNode>;
  exited: Promise<void>;
}

function startOwner(script: string): Owner {
  const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const node = new Promise<PrivateNode>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) =>
      resolve(JSON.parse(line) as PrivateNode),
    );
    child.once("exit", (code, signal) =>
      reject(new Error(`owner process exited (${code ?? signal}) before its node started: ${stderr}`)),
    );
  });
  return { child, node, exited };
}

function beamOf(node: PrivateNode): number {
  return Number.parseInt(readFileSync(join(node.dir, "pid"), "utf8").trim(), 10);
}

const isRunning = (pid: number) => existsSync(`/proc/${pid}`);

async function connects(url: string): Promise<boolean> {
  try {
    const connection = await amqp.connect(url, { timeout: 5_000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

describe("private nodes of a killed test runner", () => {
  let dir: TempDir;
  const owners: Owner[] = [];
  let next: PrivateNode | undefined;

  beforeAll(async () => {
    await requireBroker();
    if (!existsSync(new URL("../dist/index.js", import.meta.url)))
      throw new Error("packages/test-utils/dist is missing: run pnpm build first");
    dir = await tempDir("orphan-owner");
  });

  afterAll(async () => {
    for (const owner of owners) {
      if (owner.child.exitCode === null && owner.child.signalCode === null) owner.child.kill("SIGTERM");
      await owner.exited;
    }
    if (next !== undefined) await stopPrivateNode(next);
    await dir?.remove();
  }, 120_000);

  it("are stopped and removed when the next node starts; a live runner's node and the shared node are left alone", async () => {
    const script = join(dir.path, "owner.mjs");
    await writeFile(script, OWNER_SCRIPT);
    const killed = startOwner(script);
    const living = startOwner(script);
    owners.push(killed, living);
    const [orphan, kept] = await Promise.all([killed.node, living.node]);
    const orphanBeam = beamOf(orphan);
    expect(await connects(orphan.url)).toBe(true);

    killed.child.kill("SIGKILL");
    await killed.exited;
    // Nothing cleaned up after the owner: its exit hook never ran.
    expect(isRunning(orphanBeam)).toBe(true);
    expect(existsSync(orphan.dir)).toBe(true);

    next = await startPrivateNode();
    expect(isRunning(orphanBeam)).toBe(false);
    expect(existsSync(orphan.dir)).toBe(false);
    expect(await connects(orphan.url)).toBe(false);

    expect(await connects(kept.url)).toBe(true);
    expect(existsSync(kept.dir)).toBe(true);
    expect(await connects(next.url)).toBe(true);
    expect(await connects(brokerUrl())).toBe(true);
  }, 300_000);
});
