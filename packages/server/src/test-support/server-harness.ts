// The set-up the server's unit tests share: a server with its ServerState on a temp state_dir and a
// MemoryBroker, the [global]/[server] config lines, codecs for the peers, and a delivery helper. Each test
// file keeps its own clients, clock moves and send helpers. Not part of the build (tsconfig excludes it).
import type { Net2banConfig } from "@net2ban/config";
import { type Codec, createCodec, type Direction, KeyCache } from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import { MemoryBroker, memoryLogger, type TempDir, tempDir } from "@net2ban/test-utils";
import { afterEach, beforeEach } from "vitest";
import { Net2banServer } from "../server.js";
import { ServerState } from "../state.js";

/** Where every test's fake clock starts (milliseconds since the epoch). */
export const CLOCK_START = Date.UTC(2026, 0, 15, 12, 0, 0);

/** The secret, authkey and rounds of every config below. */
const SHARED_KEYS = { secret: "s", authkey: "a", rounds: 1000 };

/**
 * The [global] and [server] sections of a server's config on `stateDir`; `global` and `server` are extra
 * lines for each section. Clients' sections follow.
 */
export function serverConfigHead(
  queuePrefix: string,
  stateDir: string,
  extra: { global?: string; server?: string } = {},
): string {
  return `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = s
authkey = a
mode = server
queue_prefix = ${queuePrefix}
state_dir = ${stateDir}
${extra.global ?? ""}
[server]
key = server-key
${extra.server ?? ""}
`;
}

/** A version-2 (or `protocol`) codec for `keyId` under `key`, in `direction`. */
export function codecFor(
  keyId: string,
  key: string,
  direction: Direction,
  protocol: 1 | 2 = 2,
): Promise<Codec> {
  return createCodec({ protocol, keyId, direction, keys: { key, ...SHARED_KEYS } });
}

/** One server process's worth of objects: what a restart of net2ban-server opens again. */
export interface StartedServer {
  state: ServerState;
  server: Net2banServer;
  broker: MemoryBroker;
  logger: ReturnType<typeof memoryLogger>;
  /** Hands `body` to the server's input queue handler as one delivery. */
  deliver(body: Buffer, redelivered?: boolean): ReturnType<Net2banServer["handleRequest"]>;
  /** Stops this server before the test ends (the harness then leaves it alone). */
  stop(): Promise<void>;
}

/**
 * Registers a temp state_dir per test (named after `name`) and stops every started server after it;
 * `reset` runs before each test (the file's clock).
 */
export function serverHarness(name: string, reset: () => void) {
  let dir: TempDir | undefined;
  const running: Net2banServer[] = [];
  beforeEach(async () => {
    dir = await tempDir(name);
    reset();
  });
  afterEach(async () => {
    for (const server of running.splice(0)) await server.stop();
    await dir?.remove();
  });
  return {
    /** This test's state_dir. */
    get dir(): string {
      if (dir === undefined) throw new Error("serverHarness: dir is set in beforeEach");
      return dir.path;
    },
    async start(
      config: Net2banConfig,
      now: () => number,
      options: { minSyncIntervalMs?: number } = {},
    ): Promise<StartedServer> {
      const broker = new MemoryBroker();
      const logger = memoryLogger();
      const keyCache = new KeyCache();
      const shared = { broker, logger: logger as unknown as Logger, keyCache, now };
      const state = await ServerState.open({ config, ...shared, ...options });
      const server = await Net2banServer.create(config, {
        ...shared,
        state,
        protectedAddresses: { localAddresses: () => [], resolveHost: false },
      });
      await server.start();
      running.push(server);
      return {
        state,
        server,
        broker,
        logger,
        deliver: (body, redelivered = false) =>
          server.handleRequest({ body, redelivered, deliveryTag: 1, headers: {} }),
        stop: async () => {
          const at = running.indexOf(server);
          if (at >= 0) running.splice(at, 1);
          await server.stop();
        },
      };
    },
  };
}
