// Server fan-out: confirmed deliveries/s of one ban to 1, 10, 100, 1000 client queues through the server's
// real request path (open, check, seal per client, publishAll, confirms), against raw amqplib confirmed
// publishes of ready-made payloads to the same durable queues with the same persistent, mandatory flags.
import { createCodec, createExecBanRequest, KeyCache } from "@net2ban/protocol";
import { Net2banServer } from "@net2ban/server";
import { connectBroker, type Delivery } from "@net2ban/transport";
import amqp, { type ConfirmChannel } from "amqplib";
import { type BenchContext, type CpuShare, cpuMeter, describeCpu } from "./context.js";
import { deleteQueues, purgeQueues, queuesOf, serverConfig } from "./fixtures.js";
import { sinkLogger } from "./logger.js";
import { formatNumber, median } from "./stats.js";

/** Raw publishes to every queue, then one wait for all their confirms: what the floor does per ban. */
async function rawFanout(channel: ConfirmChannel, queues: readonly string[], payload: Buffer, id: string) {
  for (const queue of queues) {
    const hasRoom = channel.publish("", queue, payload, { persistent: true, mandatory: true, messageId: id });
    if (!hasRoom) await new Promise((resolve) => channel.once("drain", resolve));
  }
  await channel.waitForConfirms();
}

interface Side {
  deliveriesPerSecond: number[];
  cpu: CpuShare[];
}

export async function benchFanout(ctx: BenchContext): Promise<void> {
  // --quick leaves out 1000 queues: declaring them and deriving 1000 keys is ~15 s of its minute.
  const sizes = ctx.quick ? [1, 10, 100] : [1, 10, 100, 1000];
  // Bans per round, so that each round makes a few thousand deliveries at most.
  const bansFor = (n: number) =>
    ctx.pick(Math.max(3, Math.round(300 / n)), Math.max(8, Math.round(3000 / n)));
  const rounds = ctx.pick(2, 5);
  for (const clients of sizes) {
    const bans = bansFor(clients);
    // Rounds only slow creation (one derivation per client); the measured path never derives.
    const config = serverConfig({
      brokerUrl: ctx.brokerUrl,
      prefix: `${ctx.prefix}_f${clients}`,
      clients,
      rounds: 1000,
    });
    const queues = config.clients.map((c) => c.queue);
    const broker = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
    const connection = await amqp.connect(ctx.brokerUrl);
    try {
      ctx.progress(`${clients} client queues: deriving keys, declaring queues`);
      const keyCache = new KeyCache();
      const server = await Net2banServer.create(config, { broker, logger: sinkLogger(), keyCache });
      for (const queue of queues) await broker.assertQueue({ name: queue });
      const inputPeer = config.server!;
      const input = await createCodec({
        protocol: inputPeer.protocol,
        keyId: "server",
        direction: "to-server",
        keys: inputPeer,
      });
      const channel = await connection.createConfirmChannel();
      channel.on("return", () => {
        throw new Error("fan-out floor: a raw publish was returned (queue missing)");
      });
      const payload = Buffer.alloc(
        (
          await createCodec({
            protocol: 2,
            keyId: config.clients[0]!.name,
            direction: "to-agent",
            keys: config.clients[0]!,
          })
        ).seal(createExecBanRequest({ ip: "203.0.113.9", name: "sshd", sender: "bench" })).length,
        7,
      );
      const net2ban: Side = { deliveriesPerSecond: [], cpu: [] };
      const raw: Side = { deliveriesPerSecond: [], cpu: [] };
      let serial = 0;
      for (let round = 1; round <= rounds; round++) {
        // Alternate which side goes first, so a drift in machine load does not favour one side.
        const order = round % 2 === 1 ? (["raw", "net2ban"] as const) : (["net2ban", "raw"] as const);
        for (const side of order) {
          const requests: Delivery[] = [];
          for (let i = 0; i < bans; i++) {
            serial++;
            const ban = createExecBanRequest({
              ip: `198.51.${serial >> 8}.${serial & 255}`,
              name: "sshd",
              sender: "bench",
            });
            requests.push({
              body: input.seal(ban),
              messageId: ban.id,
              redelivered: false,
              deliveryTag: serial,
              headers: {},
            });
          }
          const meter = cpuMeter();
          if (side === "raw") {
            for (const request of requests) await rawFanout(channel, queues, payload, request.messageId!);
          } else {
            for (const request of requests) {
              const verdict = await server.handleRequest(request);
              if (verdict !== "ack")
                throw new Error(`fan-out: the server answered ${verdict} to a valid ban`);
            }
          }
          const share = meter.stop();
          const target = side === "raw" ? raw : net2ban;
          target.deliveriesPerSecond.push((bans * clients * 1000) / share.wallMs);
          target.cpu.push(share);
          await purgeQueues(ctx.brokerUrl, queues);
        }
        ctx.progress(
          `${clients} queues, round ${round}/${rounds}: net2ban ${formatNumber(net2ban.deliveriesPerSecond.at(-1)!)}/s, raw ${formatNumber(raw.deliveriesPerSecond.at(-1)!)}/s (${bans} bans each)`,
        );
      }
      const ours = median(net2ban.deliveriesPerSecond);
      const floor = median(raw.deliveriesPerSecond);
      const share = ours / floor;
      ctx.recorder.figure({
        id: `fanout.${clients}`,
        group: "fanout",
        what: `server fan-out of one ban to ${clients} client queue${clients === 1 ? "" : "s"} (persistent, durable, confirmed)`,
        value: ours,
        unit: "deliveries/s",
        floor: { what: "raw amqplib confirmed publish", value: floor, unit: "deliveries/s" },
        ratio: { value: share, text: `${Math.round(share * 100)} % of raw` },
        target: { text: ">= 70 % of raw", met: share >= 0.7 },
        note: `median of ${rounds} rounds of ${bans} bans`,
      });
      // What the server's own CPU does per ban, without the broker: sealing one copy per client (warm).
      const sealBan = createExecBanRequest({ ip: "203.0.113.10", name: "sshd", sender: "bench" });
      const codecs = await Promise.all(
        config.clients.map((c) =>
          createCodec({ protocol: 2, keyId: c.name, direction: "to-agent", keys: c, cache: keyCache }),
        ),
      );
      const sealRuns: number[] = [];
      for (let run = 0; run < 6; run++) {
        const started = performance.now();
        for (const codec of codecs) codec.seal(sealBan);
        if (run > 0) sealRuns.push(performance.now() - started);
      }
      const cpuPerBan = (side: Side) => formatNumber(median(side.cpu.map((c) => c.benchCpuMs / bans)));
      const msPerBan = (side: Side) => formatNumber(median(side.cpu.map((c) => c.wallMs / bans)));
      const last = (side: Side) => side.cpu[side.cpu.length - 1]!;
      ctx.recorder.note(
        `fan-out to ${clients} queue${clients === 1 ? "" : "s"}, medians per ban: through the server ${msPerBan(net2ban)} ms of which ${cpuPerBan(net2ban)} ms CPU of the bench process (sealing the ${clients} copies alone: ${formatNumber(median(sealRuns))} ms); raw ${msPerBan(raw)} ms, ${cpuPerBan(raw)} ms CPU. Last round: ${describeCpu(last(net2ban), "server")}; raw ${describeCpu(last(raw), "publisher")}.`,
      );
    } finally {
      await connection.close().catch(() => {});
      await broker.close();
      await deleteQueues(ctx.brokerUrl, queuesOf(config));
    }
  }
}
