// Hostile requests for the server's handler, in-process: malformed, truncated, oversized, bit-flipped,
// wrong-key, wrong-recipient, replayed, expired, future-dated and wrong-version envelopes, and valid
// envelopes around invalid JSON. Every one must be rejected with exactly one log line and forward nothing.
import { parseConfig } from "@net2ban/config";
import { type Codec, createCodec, createExecRequest, createUpdateRequest } from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import {
  CountingLogger,
  ENVELOPE_REASON,
  execRequest,
  expectAllRejected,
  expectHostileRejected,
  FUZZ_KEYS,
  FUZZ_NOW_MS,
  FUZZ_WINDOW,
  FuzzStats,
  type FuzzTarget,
  freshAge,
  fuzzDelivery,
  fuzzKeys,
  HOSTILE_ENVELOPES,
  MemoryBroker,
  messageId,
  type Receiver,
  sealed,
  sealedUncheckedByOneOf,
  v1Lenient,
} from "@net2ban/test-utils";
import fc from "fast-check";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Net2banServer } from "./server.js";

// Tens of thousands of cases per test: a busy 2-core machine can take longer than the default 30 s.
vi.setConfig({ testTimeout: 300_000 });

const SEED = 20260615;

function configText(protocol: 1 | 2): string {
  return `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = ${FUZZ_KEYS.secret}
mode = server
valid_wtime = ${FUZZ_WINDOW}
authkey = ${FUZZ_KEYS.authkey}
queue_prefix = fuzz_
ignoreip = 10.0.0.0/8

[server]
input = fuzz_input
key = ${FUZZ_KEYS.server}
protocol = ${protocol}

[agent1]
key = ${FUZZ_KEYS.agent1}

[agent2]
key = ${FUZZ_KEYS.agent2}
protocol = 1
`;
}

/** Over both servers; the server's own refusals are shown by their message. */
const stats = new FuzzStats();
/** Requests forwarded by the valid cases (none by the hostile ones: expectAllRejected checks that). */
let forwardedValid = 0;

interface Target extends FuzzTarget {
  server: Net2banServer;
  broker: MemoryBroker;
}

async function makeTarget(protocol: 1 | 2): Promise<Target> {
  const { config } = parseConfig(configText(protocol), "fuzz.cfg");
  const logger = new CountingLogger(stats, (_fields, msg) => ({ last: msg, code: "refused by the server" }));
  // handleRequest only ever publishes: broker.operations (declares, binds, consumes) stays empty.
  const broker = new MemoryBroker();
  const server = await Net2banServer.create(config, {
    broker,
    logger: logger as unknown as Logger,
    now: () => FUZZ_NOW_MS,
    protectedAddresses: { localAddresses: () => ["192.0.2.2"], resolveHost: false },
  });
  return {
    server,
    logger,
    stats,
    broker,
    handle: (delivery) => server.handleRequest(delivery),
    effects: () => broker.published.length + broker.operations.length,
  };
}

// ---- message arbitraries ----------------------------------------------------------------------

/** Schema-valid exec requests, `age` seconds old. */
const requests = (age: fc.Arbitrary<number>) =>
  execRequest(["iptables-multiport", "nftables", "net2ban-demo"], age);
const fresh = requests(freshAge);
/** Look-alikes of action file names, for broken shapes. */
const LOOKALIKES = ["iptables multiport", "ｉｐｔａｂｌｅｓ"];

afterAll(() => {
  console.log(stats.summary("server fuzz", { forwarded: forwardedValid }));
});

describe.each([2, 1] as const)("server handler, protocol %i input", (protocol) => {
  // v1 shares every check after the envelope with v2: a quarter of the cases covers its own parser.
  const share = protocol === 2 ? 1 : 0.25;
  const runs = (n: number) => Math.round(n * share);
  let target: Target;
  let good: Codec;

  it("setup: keys derived, a valid request is forwarded to both agents", async () => {
    target = await makeTarget(protocol);
    good = await createCodec({
      protocol,
      keyId: "server",
      direction: "to-server",
      keys: fuzzKeys(FUZZ_KEYS.server),
    });
    const [message] = fc.sample(fresh, { seed: SEED, numRuns: 1 });
    expect(await target.handle(fuzzDelivery(good.seal(message!)))).toBe("ack");
    // In no fixed order: the server derives its clients' keys concurrently.
    expect(target.broker.published.map((f) => f.queue).sort()).toEqual(["fuzz_agent1", "fuzz_agent2"]);
    forwardedValid += 2;
  });

  it.each(HOSTILE_ENVELOPES)("$name", async (hostile) => {
    const receiver: Receiver = {
      protocol,
      codec: good,
      keyId: "server",
      direction: "to-server",
      key: FUZZ_KEYS.server,
      messages: requests,
      lookalikes: LOOKALIKES,
    };
    await expectHostileRejected(target, receiver, hostile, { seed: SEED, share });
  });

  it("sealed for another recipient or direction (an agent's key, agent-bound, results)", async () => {
    const agent1 = fuzzKeys(FUZZ_KEYS.agent1);
    const others = await Promise.all([
      createCodec({ protocol, keyId: "agent1", direction: "to-agent", keys: agent1 }),
      createCodec({ protocol, keyId: "agent1", direction: "to-server", keys: agent1 }),
      createCodec({
        protocol: 2,
        keyId: "agent2",
        direction: "from-agent",
        keys: fuzzKeys(FUZZ_KEYS.agent2),
      }),
      // v1 binds no direction: the server's own v1 keys seal the same bytes both ways, so only v2 has this case.
      ...(protocol === 2
        ? [
            createCodec({
              protocol,
              keyId: "server",
              direction: "to-agent",
              keys: fuzzKeys(FUZZ_KEYS.server),
            }),
          ]
        : []),
    ]);
    await expectAllRejected(target, sealedUncheckedByOneOf(others, fresh), {
      runs: runs(8_000),
      seed: SEED + 8,
      reason: v1Lenient(protocol, ENVELOPE_REASON),
    });
  });

  it("replayed: each of 500 accepted requests delivered again, up to 20 times", async () => {
    const originals = fc.sample(sealed(good, fresh), { seed: SEED + 9, numRuns: 500 });
    for (const wire of originals) expect(await target.handle(fuzzDelivery(wire))).toBe("ack");
    forwardedValid += 2 * originals.length;
    expect(target.broker.published).toHaveLength(2 + 2 * originals.length);
    await expectAllRejected(target, fc.constantFrom(...originals), {
      runs: runs(10_000),
      seed: SEED + 10,
      reason: /^(replay)/,
    });
  });

  it("schema-valid requests the server refuses: protected ip, ip not an address, update for nobody", async () => {
    const refused = fc.oneof(
      fc
        .tuple(
          fc.constantFrom(
            "10.1.2.3",
            "127.0.0.1",
            "::1",
            "192.0.2.2",
            "192.0.2.50",
            "0.0.0.0/0",
            "::ffff:10.0.0.9",
          ),
          messageId,
        )
        .map(([ip, i]) =>
          createExecRequest({
            file: "net2ban-demo",
            action: "actionban",
            params: { ip },
            sender: "fuzz",
            id: i,
            now: () => FUZZ_NOW_MS,
          }),
        ),
      fc
        .tuple(
          fc.constantFrom("1.2.3.4; reboot", "$(reboot)", "`id`", "host.example", "1.2.3.4/33", ""),
          fc.constantFrom("actionban", "actionunban"),
          messageId,
        )
        .map(([ip, action, i]) =>
          createExecRequest({
            file: "net2ban-demo",
            action,
            params: { ip },
            sender: "fuzz",
            id: i,
            now: () => FUZZ_NOW_MS,
          }),
        ),
      fc.tuple(fc.constantFrom("agent3", "web1", "agent1x"), messageId).map(([client, i]) =>
        createUpdateRequest({
          file: "x",
          content: "W0RlZmluaXRpb25d",
          client,
          sender: "fuzz",
          id: i,
          now: () => FUZZ_NOW_MS,
        }),
      ),
    );
    await expectAllRejected(target, sealed(good, refused), {
      runs: runs(5_000),
      seed: SEED + 15,
      reason: /(refused|unknown client)/,
    });
  });
});

describe("memory", () => {
  it("stays bounded over the whole run", () => {
    // The replay memory holds ~1000 ids; everything else is garbage once handled.
    expect(stats.grown()).toBeLessThan(256 * 2 ** 20);
  });
});
