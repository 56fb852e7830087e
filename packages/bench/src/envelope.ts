// Envelope encode + decode of a 200-byte ban (codec v1 and v2) against raw node:crypto AES-256-CBC +
// HMAC-SHA256 on the same plaintext bytes, on one core, with tinybench. Absorbs protocol/bench/seal-open.mjs.
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
  randomFillSync,
  timingSafeEqual,
} from "node:crypto";
import { createCodec, createExecBanRequest } from "@net2ban/protocol";
import { messageSchema } from "@net2ban/protocol/fleet";
import { Bench } from "tinybench";
import type { BenchContext } from "./context.js";
import { formatNumber } from "./stats.js";

const KEYS = { key: "client1 key", secret: "shared secret", rounds: 12000, authkey: "shared authkey" };

/** IVs drawn 16 at a time, as the codec does, so the floor pays the same for randomness. */
function ivPool(): () => Buffer {
  const pool = Buffer.alloc(16 * 16);
  let at = pool.length;
  return () => {
    if (at === pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    at += 16;
    return pool.subarray(at - 16, at);
  };
}

/** The floor: encrypt-then-MAC and verify-then-decrypt of ready bytes; no header, JSON or schema. */
function rawEnvelope(encryptionKey: KeyObject | Buffer, macKey: KeyObject | Buffer) {
  const nextIv = ivPool();
  const seal = (plaintext: Buffer): Buffer => {
    const iv = nextIv();
    const cipher = createCipheriv("aes-256-cbc", encryptionKey, iv);
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    const macAt = 16 + head.length + tail.length;
    const wire = Buffer.allocUnsafe(macAt + 32);
    wire.set(iv, 0);
    wire.set(head, 16);
    wire.set(tail, 16 + head.length);
    createHmac("sha256", macKey).update(wire.subarray(0, macAt)).digest().copy(wire, macAt);
    return wire;
  };
  const open = (wire: Buffer): Buffer => {
    const macAt = wire.length - 32;
    const expected = createHmac("sha256", macKey).update(wire.subarray(0, macAt)).digest();
    if (!timingSafeEqual(expected, wire.subarray(macAt))) throw new Error("raw floor: MAC mismatch");
    const decipher = createDecipheriv("aes-256-cbc", encryptionKey, wire.subarray(0, 16));
    return Buffer.concat([decipher.update(wire.subarray(16, macAt)), decipher.final()]);
  };
  return { seal, open };
}

export async function benchEnvelope(ctx: BenchContext): Promise<void> {
  const ban = createExecBanRequest({ ip: "203.0.113.9", name: "sshd", sender: "correlator" });
  const v2 = await createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys: KEYS });
  const v1 = await createCodec({ protocol: 1, keyId: "client1", direction: "to-agent", keys: KEYS });
  const plaintext = Buffer.from(JSON.stringify(ban), "utf8");
  const encBytes = randomBytes(32);
  const macBytes = randomBytes(32);
  const rawKeyObjects = rawEnvelope(createSecretKey(encBytes), createSecretKey(macBytes));
  const rawBuffers = rawEnvelope(encBytes, macBytes);
  // Sanity: every task does real work that round-trips.
  if (!rawKeyObjects.open(rawKeyObjects.seal(plaintext)).equals(plaintext))
    throw new Error("raw floor broken");
  if (v2.open(v2.seal(ban)).message.id !== ban.id) throw new Error("v2 codec does not round-trip");
  const v2Wire = v2.seal(ban);
  const v1Wire = v1.seal(ban);
  const rawWire = rawKeyObjects.seal(plaintext);

  const time = ctx.pick(250, 1500);
  const bench = new Bench({ name: "envelope", time, warmupTime: ctx.pick(100, 300) });
  const tasks = {
    floorKeyObjects: "raw seal + open (KeyObject keys)",
    floorBuffers: "raw seal + open (Buffer keys)",
    rawJson: "raw seal + open + JSON.stringify/parse",
    rawJsonSchema: "raw seal + open + JSON + schema check both ways",
    v2: "codec v2 seal + open",
    v1: "codec v1 seal + open",
    rawSeal: "raw seal",
    rawOpen: "raw open",
    v2Seal: "codec v2 seal",
    v2Open: "codec v2 open",
    v1Seal: "codec v1 seal",
    v1Open: "codec v1 open",
  } as const;
  bench
    .add(tasks.floorKeyObjects, () => rawKeyObjects.open(rawKeyObjects.seal(plaintext)))
    .add(tasks.floorBuffers, () => rawBuffers.open(rawBuffers.seal(plaintext)))
    .add(tasks.rawJson, () =>
      JSON.parse(rawKeyObjects.open(rawKeyObjects.seal(Buffer.from(JSON.stringify(ban), "utf8"))).toString()),
    )
    .add(tasks.rawJsonSchema, () => {
      const checked = messageSchema.parse(ban);
      const wire = rawKeyObjects.seal(Buffer.from(JSON.stringify(checked), "utf8"));
      return messageSchema.parse(JSON.parse(rawKeyObjects.open(wire).toString("utf8")));
    })
    .add(tasks.v2, () => v2.open(v2.seal(ban)))
    .add(tasks.v1, () => v1.open(v1.seal(ban)))
    .add(tasks.rawSeal, () => rawKeyObjects.seal(plaintext))
    .add(tasks.rawOpen, () => rawKeyObjects.open(rawWire))
    .add(tasks.v2Seal, () => v2.seal(ban))
    .add(tasks.v2Open, () => v2.open(v2Wire))
    .add(tasks.v1Seal, () => v1.seal(ban))
    .add(tasks.v1Open, () => v1.open(v1Wire));
  bench.addEventListener("cycle", (event) => {
    const task = event.task;
    if (task !== undefined) ctx.progress(`${task.name}: ${formatNumber(1000 / medianMs(task.name))} ops/s`);
  });
  ctx.progress(`${bench.tasks.length} tasks, ${time} ms each, plaintext ${plaintext.length} bytes`);
  await bench.run();

  function medianMs(name: string): number {
    const result = bench.getTask(name)?.result;
    if (result === undefined || !("latency" in result))
      throw new Error(`envelope: task "${name}" has no result`);
    return result.latency.p50;
  }
  // The strictest floor: whichever raw variant was faster in this run.
  const floorName =
    medianMs(tasks.floorKeyObjects) <= medianMs(tasks.floorBuffers)
      ? tasks.floorKeyObjects
      : tasks.floorBuffers;
  const floorMs = medianMs(floorName);
  for (const [id, name, label] of [
    ["envelope.v2", tasks.v2, "v2"],
    ["envelope.v1", tasks.v1, "v1"],
  ] as const) {
    const ms = medianMs(name);
    const cost = ms / floorMs;
    ctx.recorder.figure({
      id,
      group: "envelope",
      what: `envelope encode + decode, ${label}, 200-byte ban, one core`,
      value: 1000 / ms,
      unit: "ops/s",
      floor: { what: floorName, value: 1000 / floorMs, unit: "ops/s" },
      ratio: { value: cost, text: `${cost.toFixed(2)}x the raw cost` },
      target: { text: "<= 1.2x", met: cost <= 1.2 },
    });
  }
  const us = (name: string) => `${(medianMs(name) * 1000).toFixed(1)} µs`;
  ctx.recorder.note(
    `envelope, median per call: raw seal ${us(tasks.rawSeal)}, raw open ${us(tasks.rawOpen)}; v2 seal ${us(tasks.v2Seal)}, v2 open ${us(tasks.v2Open)}; v1 seal ${us(tasks.v1Seal)}, v1 open ${us(tasks.v1Open)}; a raw round trip that also runs JSON.stringify/parse: ${us(tasks.rawJson)} (${(medianMs(tasks.rawJson) / floorMs).toFixed(2)}x the floor), and that also checks the message schema both ways: ${us(tasks.rawJsonSchema)} (${(medianMs(tasks.rawJsonSchema) / floorMs).toFixed(2)}x); codec v2 against that last one: ${(medianMs(tasks.v2) / medianMs(tasks.rawJsonSchema)).toFixed(2)}x.`,
  );
}
