// Benchmark: codec seal + open of a 200-byte ban against raw node:crypto AES-256-CBC + HMAC-SHA256.
// Run after `pnpm build`: node packages/protocol/bench/seal-open.mjs  (prints a table and the ratios).
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  randomFillSync,
  timingSafeEqual,
} from "node:crypto";
import { Bench } from "tinybench";
import { createCodec, createExecBanRequest } from "../dist/index.js";

const keys = { key: "client1 key", secret: "shared secret", rounds: 12000, authkey: "shared authkey" };
const ban = createExecBanRequest({ ip: "203.0.113.9", name: "sshd", sender: "correlator" });
const v2 = await createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys });
const v1 = await createCodec({ protocol: 1, keyId: "client1", direction: "to-agent", keys });

// The floor: the same primitives with no header, no schema, no Python JSON, keys already raw.
const encKey = randomBytes(32);
const macKey = randomBytes(32);
const ivPool = Buffer.alloc(256);
let ivAt = ivPool.length;
/** The codec draws IVs 16 at a time; this makes the floor do the same, so the ratio shows the rest. */
function pooledIv() {
  if (ivAt === ivPool.length) {
    randomFillSync(ivPool);
    ivAt = 0;
  }
  ivAt += 16;
  return ivPool.subarray(ivAt - 16, ivAt);
}
function rawSealOpen(iv = randomBytes(16)) {
  const cipher = createCipheriv("aes-256-cbc", encKey, iv);
  const body = Buffer.concat([iv, cipher.update(JSON.stringify(ban)), cipher.final()]);
  const wire = Buffer.concat([body, createHmac("sha256", macKey).update(body).digest()]);
  const macAt = wire.length - 32;
  const expected = createHmac("sha256", macKey).update(wire.subarray(0, macAt)).digest();
  if (!timingSafeEqual(expected, wire.subarray(macAt))) throw new Error("mac");
  const decipher = createDecipheriv("aes-256-cbc", encKey, wire.subarray(0, 16));
  return JSON.parse(
    Buffer.concat([decipher.update(wire.subarray(16, macAt)), decipher.final()]).toString("utf8"),
  );
}

const bench = new Bench({ name: "seal + open, 200-byte ban", time: 1000, warmupTime: 200 });
bench
  .add("raw node:crypto AES-CBC + HMAC", () => rawSealOpen())
  .add("raw, IVs from a pool", () => rawSealOpen(pooledIv()))
  .add("codec v2 seal + open", () => v2.open(v2.seal(ban)))
  .add("codec v1 seal + open", () => v1.open(v1.seal(ban)));
await bench.run();
console.log(
  `plaintext ${Buffer.byteLength(JSON.stringify(ban))} bytes, v2 wire ${v2.seal(ban).length} bytes`,
);
console.table(bench.table());
const median = (name) => bench.getTask(name).result.latency.p50;
for (const floor of ["raw node:crypto AES-CBC + HMAC", "raw, IVs from a pool"]) {
  for (const name of ["codec v2 seal + open", "codec v1 seal + open"]) {
    console.log(
      `${name}: ${(median(name) / median(floor)).toFixed(2)}x "${floor}" (median latency; target <= 1.2x)`,
    );
  }
}
