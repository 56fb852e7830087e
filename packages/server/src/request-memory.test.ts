// The server's replay memory of requests on disk: refused across reopen, a torn last line, ids leaving the
// window (the file stays bounded), the floor when full, and a failed write that must not refuse the retry.
import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createCodec, createExecRequest, MessageRejectedError, type OpenedMessage } from "@net2ban/protocol";
import { memoryLogger, type TempDir, tempDir } from "@net2ban/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RequestMemory } from "./request-memory.js";

let clock = Date.UTC(2026, 0, 15, 12, 0, 0);
const now = () => clock;
let dir: TempDir;
const codec = await createCodec({
  protocol: 2,
  keyId: "server",
  direction: "to-server",
  keys: { key: "server-key", secret: "s", authkey: "a", rounds: 1000 },
});

beforeEach(async () => {
  dir = await tempDir("request-memory");
  clock = Date.UTC(2026, 0, 15, 12, 0, 0);
});
afterEach(async () => {
  await dir.remove();
});

function request(n: number): OpenedMessage {
  const message = createExecRequest({
    file: "demo",
    action: "actionban",
    params: { ip: `192.0.2.${n % 256}` },
    now,
  });
  return codec.open(codec.seal(message));
}

const open = (options: { maxEntries?: number; window?: number } = {}) =>
  RequestMemory.open({
    dir: dir.path,
    validWindowSeconds: options.window ?? 600,
    logger: memoryLogger(),
    now,
    ...(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries }),
  });

function reason(run: () => void): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof MessageRejectedError) return error.reason.split(":")[0];
    throw error;
  }
}

describe("RequestMemory", () => {
  it("a taken request is refused by the next process; one only checked (not carried out) is not", async () => {
    const memory = await open();
    const taken = request(1);
    const dropped = request(2);
    memory.check(taken);
    expect(reason(() => memory.check(taken))).toBe("replay");
    await memory.taken(taken);
    memory.check(dropped);
    await memory.close();
    const next = await open();
    expect(reason(() => next.check(taken))).toBe("replay");
    expect(reason(() => next.check(dropped))).toBeUndefined();
    await next.close();
  });

  it("a torn last line (a crash mid-write) is skipped; the records before it hold", async () => {
    const memory = await open();
    const first = request(1);
    memory.check(first);
    await memory.taken(first);
    await memory.close();
    await appendFile(join(dir.path, "requests"), "T half-writ");
    const logger = memoryLogger();
    const next = await RequestMemory.open({ dir: dir.path, validWindowSeconds: 600, logger, now });
    expect(reason(() => next.check(first))).toBe("replay");
    expect(logger.find("warn", "skipped records that were not fully written")).toHaveLength(1);
    await next.close();
  });

  it("ids leave the file with their window: it stays bounded under a steady stream", async () => {
    const memory = await open({ window: 10 });
    for (let i = 0; i < 6000; i++) {
      const opened = request(i);
      memory.check(opened);
      await memory.taken(opened);
      clock += 100;
    }
    // 10 s of window at 10 requests a second: about 100 live, the file at most the live ones plus the
    // 1024 dead records tolerated before a rewrite (and as many again as there are live ones).
    expect(memory.size).toBeLessThanOrEqual(101);
    const lines = (await readFile(join(dir.path, "requests"), "utf8")).split("\n").length;
    expect(lines).toBeLessThan(1300);
    await memory.close();
  });

  it("full: the oldest id goes and the floor rises to it, on disk too", async () => {
    const memory = await open({ maxEntries: 3 });
    const all = [0, 1, 2, 3].map((n) => {
      clock += 1000;
      return request(n);
    });
    for (const opened of all) {
      memory.check(opened);
      await memory.taken(opened);
    }
    expect(memory.size).toBe(3);
    expect(memory.floor).toBe(all[0]!.message.timestamp);
    await memory.close();
    const next = await open({ maxEntries: 3 });
    expect(reason(() => next.check(all[0]!))).toBe("expired");
    expect(reason(() => next.check(all[3]!))).toBe("replay");
    await next.close();
  });

  it("a record that cannot be written fails the request and lets its redelivery through", async () => {
    const memory = await open();
    const opened = request(1);
    memory.check(opened);
    await memory.close();
    await expect(memory.taken(opened)).rejects.toThrow(/closed/);
    expect(memory.wasTaken(opened)).toBe(false);
    expect(reason(() => memory.check(opened))).toBeUndefined();
  });

  it("a clock stepped back cannot revive ids that left the window", async () => {
    const memory = await open({ window: 10 });
    const old = request(1);
    memory.check(old);
    await memory.taken(old);
    clock += 20_000;
    memory.check(request(2));
    clock -= 20_000;
    expect(reason(() => memory.check(old))).toBe("expired");
    await memory.close();
  });
});
