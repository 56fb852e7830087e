// Key derivation at 12,000 rounds against node:crypto pbkdf2, the cost of a cache hit, and proof that a
// server derives each client's keys once per process (a reload of the same config derives nothing).
import { pbkdf2, randomBytes } from "node:crypto";
import { createCodec, KeyCache } from "@net2ban/protocol";
import { Net2banServer } from "@net2ban/server";
import { connectBroker } from "@net2ban/transport";
import { Bench } from "tinybench";
import type { BenchContext } from "./context.js";
import { serverConfig } from "./fixtures.js";
import { sinkLogger } from "./logger.js";
import { formatNumber } from "./stats.js";

const ROUNDS = 12000;

function rawPbkdf2(password: Buffer, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, ROUNDS, 32, "sha256", (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function benchKeys(ctx: BenchContext): Promise<void> {
  // Fresh material per call so that nothing could be cached below us.
  const material = () => ({
    key: randomBytes(20).toString("hex"),
    secret: "shared secret",
    rounds: ROUNDS,
    authkey: "shared authkey",
  });
  const warmCache = new KeyCache();
  const warm = material();
  await createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys: warm, cache: warmCache });

  const bench = new Bench({ name: "keys", time: ctx.pick(300, 2000), warmupTime: ctx.pick(50, 200) });
  const tasks = {
    raw: `node:crypto pbkdf2, ${ROUNDS} rounds`,
    v2: "createCodec v2 (PBKDF2 + 2 HKDF + key import)",
    v1: "createCodec v1 (PBKDF2 + ab64 + key import)",
    hit: "createCodec v2, KeyCache hit",
  } as const;
  bench
    .add(tasks.raw, () => rawPbkdf2(randomBytes(20), Buffer.from("salt")))
    .add(tasks.v2, () =>
      createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys: material() }),
    )
    .add(tasks.v1, () =>
      createCodec({ protocol: 1, keyId: "client1", direction: "to-agent", keys: material() }),
    )
    .add(tasks.hit, () =>
      createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys: warm, cache: warmCache }),
    );
  bench.addEventListener("cycle", (event) => {
    const name = event.task?.name;
    if (name !== undefined) ctx.progress(`${name}: ${formatNumber(medianMs(name))} ms`);
  });
  await bench.run();
  function medianMs(name: string): number {
    const result = bench.getTask(name)?.result;
    if (result === undefined || !("latency" in result)) throw new Error(`keys: task "${name}" has no result`);
    return result.latency.p50;
  }
  const floorMs = medianMs(tasks.raw);
  for (const [id, name, label] of [
    ["keys.v2", tasks.v2, "v2"],
    ["keys.v1", tasks.v1, "v1"],
  ] as const) {
    const ms = medianMs(name);
    ctx.recorder.figure({
      id,
      group: "keys",
      what: `key derivation, ${label}, ${ROUNDS} rounds (libuv pool)`,
      value: ms,
      unit: "ms",
      floor: { what: "node:crypto pbkdf2", value: floorMs, unit: "ms" },
      ratio: { value: ms / floorMs, text: `${(ms / floorMs).toFixed(2)}x pbkdf2` },
    });
  }
  const hitMs = medianMs(tasks.hit);
  ctx.recorder.figure({
    id: "keys.cache-hit",
    group: "keys",
    what: "codec from a KeyCache hit (no derivation)",
    value: hitMs * 1000,
    unit: "µs",
    floor: { what: "a derivation", value: medianMs(tasks.v2) * 1000, unit: "µs" },
    ratio: {
      value: hitMs / medianMs(tasks.v2),
      text: `1/${Math.round(medianMs(tasks.v2) / hitMs)} of a derivation`,
    },
  });

  // Once per key per process: create a server with N clients, then reload the same config.
  const clients = ctx.pick(50, 200);
  const config = serverConfig({ brokerUrl: ctx.brokerUrl, prefix: ctx.prefix, clients, rounds: ROUNDS });
  const broker = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
  try {
    const keyCache = new KeyCache();
    let started = performance.now();
    await Net2banServer.create(config, { broker, logger: sinkLogger(), keyCache });
    const createMs = performance.now() - started;
    const entriesAfterCreate = keyCache.size;
    started = performance.now();
    // reload() declares every client queue too; time the derivation part through a second create.
    await Net2banServer.create(config, { broker, logger: sinkLogger(), keyCache });
    const againMs = performance.now() - started;
    const entriesAfterReload = keyCache.size;
    const once = entriesAfterReload === entriesAfterCreate && entriesAfterCreate === clients + 1;
    ctx.recorder.figure({
      id: "keys.once-per-process",
      group: "keys",
      what: `server with ${clients} clients: routes built again from the same config (SIGHUP reload path)`,
      value: againMs,
      unit: "ms",
      floor: { what: `first build, ${clients + 1} derivations`, value: createMs, unit: "ms" },
      ratio: { value: againMs / createMs, text: `${((againMs / createMs) * 100).toFixed(1)} % of the first` },
      target: {
        text: `derived once per key per process (cache entries ${entriesAfterCreate} -> ${entriesAfterReload})`,
        met: once,
      },
    });
  } finally {
    await broker.close();
  }
}
