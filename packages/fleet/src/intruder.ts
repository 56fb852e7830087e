// What the injection suites do as an intruder: seal any JSON with a fleet's keys (what a holder of the
// [server] key or of an agent's key could do) and publish raw bytes straight into a queue (what anyone
// with a broker login on it could do), then wait for the lines a process logs about them.
import { readFile } from "node:fs/promises";
import { parseConfig } from "@net2ban/config";
import { createCodec } from "@net2ban/protocol";
import { sealPlaintext } from "@net2ban/protocol/testing";
import amqp from "amqplib";
import type { Fleet, LogLine } from "./fleet.js";

/** Publishes `bodies` as persistent messages straight into `queue`, skipping net2banctl and the server. */
export async function publishRaw(url: string, queue: string, bodies: readonly Buffer[]): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    for (const body of bodies) channel.sendToQueue(queue, body, { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await connection.close();
  }
}

async function serverConfig(fleet: Fleet) {
  return parseConfig(await readFile(fleet.serverConfigPath, "utf8"), fleet.serverConfigPath).config;
}

/** Seals any JSON for agent `agent` with its key and protocol, as the fleet's server config has them. */
export async function sealForAgent(fleet: Fleet, agent: string, message: object): Promise<Buffer> {
  const peer = (await serverConfig(fleet)).clients.find((c) => c.name === agent);
  if (peer === undefined) throw new Error(`no client ${agent} in ${fleet.serverConfigPath}`);
  const codec = await createCodec({
    protocol: peer.protocol,
    keyId: agent,
    direction: "to-agent",
    keys: peer,
  });
  return sealPlaintext(codec, JSON.stringify(message));
}

/** Seals any JSON as the server's input takes it, with the [server] key. */
export async function sealForServer(fleet: Fleet, message: object): Promise<Buffer> {
  const server = (await serverConfig(fleet)).server;
  if (server === undefined) throw new Error(`no [server] in ${fleet.serverConfigPath}`);
  const codec = await createCodec({
    protocol: server.protocol,
    keyId: "server",
    direction: "to-server",
    keys: server,
  });
  return sealPlaintext(codec, JSON.stringify(message));
}

/** Waits until process `name` logged `count` lines that `match` after its first `from` lines; returns them. */
export async function linesAfter(
  fleet: Fleet,
  name: string,
  from: number,
  match: (line: LogLine) => boolean,
  count: number,
  timeoutMs = 20_000,
): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = fleet.process(name).lines.slice(from).filter(match);
    if (found.length >= count) return found;
    if (Date.now() > deadline) {
      const last = JSON.stringify(fleet.process(name).lines.slice(-6));
      throw new Error(`${name}: ${found.length}/${count} lines: ${last}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
