// Hostile commands for the agent's handler, in-process, with the real action engine whose only runner
// is a counter: malformed, truncated, oversized, bit-flipped, wrong-key, wrong-recipient, replayed,
// expired, future-dated and wrong-version envelopes, valid envelopes around invalid JSON, and
// well-formed commands the agent must refuse. Each is rejected with one log line; nothing runs, nothing
// is written to actions_dir.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionEngine } from "@net2ban/actions";
import { Allowlist, LOOPBACK, parseConfig } from "@net2ban/config";
import {
  type Codec,
  createCodec,
  createExecRequest,
  createUpdateRequest,
  type Net2banMessage,
} from "@net2ban/protocol";
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
  refusalByErrorName,
  sealed,
  sealedUncheckedByOneOf,
  v1Lenient,
} from "@net2ban/test-utils";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Net2banAgent } from "./agent.js";

// Tens of thousands of cases per test: a busy 2-core machine can take longer than the default 30 s.
vi.setConfig({ testTimeout: 300_000 });

const SEED = 20260616;

const CONFIG = `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = ${FUZZ_KEYS.secret}
mode = client
valid_wtime = ${FUZZ_WINDOW}
authkey = ${FUZZ_KEYS.authkey}

[agent1]
key = ${FUZZ_KEYS.agent1}
protocol = 2

[agent2]
key = ${FUZZ_KEYS.agent2}
protocol = 1
`;

/** Over both agents; the agent's own refusals are counted by their error's name. */
const stats = new FuzzStats();
let actionsDir = "";
let runs = 0;

beforeAll(async () => {
  actionsDir = await mkdtemp(join(tmpdir(), "net2ban-agent-fuzz-"));
  await writeFile(
    join(actionsDir, "net2ban-demo.conf"),
    "[Definition]\nactionban = echo ban <ip>\nactionunban = echo unban <ip>\n",
  );
});

afterAll(async () => {
  console.log(stats.summary("agent fuzz", { executions: stats.effects }));
  await rm(actionsDir, { recursive: true, force: true });
});

interface Target extends FuzzTarget {
  agent: Net2banAgent;
  protocol: 1 | 2;
}

async function makeTarget(name: "agent1" | "agent2"): Promise<Target> {
  const { config } = parseConfig(CONFIG, "fuzz.cfg");
  const peer = config.clients.find((c) => c.name === name)!;
  const logger = new CountingLogger(stats, refusalByErrorName);
  const engine = new ActionEngine({
    actionsDir,
    logger,
    now: () => FUZZ_NOW_MS / 1000,
    // The only way anything runs: counted, never executed.
    run: async () => {
      runs++;
      return {
        exitCode: 0,
        signal: null,
        stdout: "",
        stderr: "",
        durationMs: 0,
        timedOut: false,
        aborted: false,
        stdoutTruncated: false,
        stderrTruncated: false,
      };
    },
  });
  // handleCommand never touches the broker (only start/stop do): effects() counts it if it did.
  const broker = new MemoryBroker();
  const agent = await Net2banAgent.create({
    peer,
    broker,
    logger: logger as unknown as Logger,
    engine,
    actionsDir,
    prefetch: 1,
    now: () => FUZZ_NOW_MS,
    allowlist: Allowlist.of("[global]", ["10.0.0.0/8"])
      .concat(Allowlist.of("default: loopback", LOOPBACK))
      .concat(Allowlist.of("default: this host", ["192.0.2.2", "2001:db8::2"])),
  });
  return {
    agent,
    logger,
    stats,
    protocol: peer.protocol,
    handle: (delivery) => agent.handleCommand(delivery),
    effects: () => runs + broker.published.length + broker.operations.length,
  };
}

// ---- message arbitraries ----------------------------------------------------------------------

/** Schema-valid bans and unbans through the action that exists, `age` seconds old. */
const commands = (age: fc.Arbitrary<number>) => execRequest(["net2ban-demo"], age);
const fresh = commands(freshAge);
/** Look-alikes of the action file's name, for broken shapes. */
const LOOKALIKES = ["net2ban demo", "ｎｅｔ２ｂａｎ"];

/** Well-formed commands this agent must refuse: they pass every envelope and schema check. */
function refusedCommand(self: string): fc.Arbitrary<Net2banMessage> {
  const at = { sender: "fuzz", now: () => FUZZ_NOW_MS };
  const exec = (file: string, action: string, params: Record<string, string>, i: string) =>
    createExecRequest({ file, action, params, id: i, ...at });
  const update = (file: string, content: string, client: string, i: string) =>
    createUpdateRequest({ file, content, client, id: i, ...at });
  const bigContent = Buffer.alloc(300 * 1024, 0x41).toString("base64");
  return fc.oneof(
    // self-lockout guard: allowlisted, loopback, own addresses, CIDRs that contain them
    fc
      .tuple(
        fc.constantFrom(
          "10.1.2.3",
          "127.0.0.1",
          "::1",
          "192.0.2.2",
          "2001:db8::2",
          "0.0.0.0/0",
          "::ffff:10.0.0.9",
          "192.0.2.0/24",
        ),
        fc.constantFrom("actionban", "actionprolong", "actionreban"),
        messageId,
      )
      .map(([ip, action, i]) => exec("net2ban-demo", action, { ip }, i)),
    // ip that is not an address, for any operation
    fc
      .tuple(
        fc.constantFrom(
          "1.2.3.4; touch /tmp/x",
          "$(reboot)",
          "`id`",
          "host.example",
          "1.2.3.4/33",
          "",
          "[::1]",
        ),
        fc.constantFrom("actionban", "actionunban"),
        messageId,
      )
      .map(([ip, action, i]) => exec("net2ban-demo", action, { ip }, i)),
    // actions that do not exist, names the engine refuses, operations that are not fail2ban's
    fc
      .tuple(fc.constantFrom("iptables-multiport", "a.b", "net2ban-demo.conf", "nope"), messageId)
      .map(([file, i]) => exec(file, "actionban", { ip: "198.18.0.1" }, i)),
    fc
      .tuple(
        fc.constantFrom("actionfoo", "action", "ban", "actionbanx", "constructor", "tostring"),
        messageId,
      )
      .map(([action, i]) => exec("net2ban-demo", action, { ip: "198.18.0.1" }, i)),
    // params a message may never set
    fc
      .tuple(
        fc.constantFrom<Record<string, string>>(
          { ip: "198.18.0.1", actionban: "touch /tmp/x" },
          { ip: "198.18.0.1", family: "inet6" },
          { ip: "198.18.0.1", name: "a\u0000b" },
          { ip: "198.18.0.1", ban: "x" },
          { ip: "198.18.0.1", failures: "1; x" },
          { ip: "198.18.0.1", "F-user": "x" },
          { ip: "198.18.0.1", Name: "x" },
          { name: "no-ip" },
        ),
        messageId,
      )
      .map(([params, i]) => exec("net2ban-demo", "actionban", params, i)),
    // updates this agent must not write
    fc
      .tuple(fc.constantFrom("agent2", "agent10", "server"), messageId)
      .filter(([client]) => client !== self)
      .map(([client, i]) => update("x", "W0RlZmluaXRpb25d", client, i)),
    fc
      .tuple(fc.constantFrom("a.b", "x.conf", "_x", "a".repeat(64) + "b"), messageId)
      .filter(([file]) => file.length <= 64)
      .map(([file, i]) => update(file, "W0RlZmluaXRpb25d", self, i)),
    fc
      .tuple(fc.constantFrom(bigContent, Buffer.from("[Definition]\u0000").toString("base64")), messageId)
      .map(([content, i]) => update("x", content, self, i)),
  );
}

describe.each(["agent1", "agent2"] as const)("agent handler, %s", (self) => {
  const other = self === "agent1" ? "agent2" : "agent1";
  let target: Target;
  let good: Codec;
  let receiver: Receiver;
  let share = 1;
  const n = (count: number) => Math.round(count * share);

  it("setup: keys derived, a valid ban runs exactly once", async () => {
    target = await makeTarget(self);
    // v1 shares every check after the envelope with v2: a quarter of the cases covers its own parser.
    share = target.protocol === 2 ? 1 : 0.25;
    good = await createCodec({
      protocol: target.protocol,
      keyId: self,
      direction: "to-agent",
      keys: fuzzKeys(FUZZ_KEYS[self]),
    });
    receiver = {
      protocol: target.protocol,
      codec: good,
      keyId: self,
      direction: "to-agent",
      key: FUZZ_KEYS[self],
      messages: commands,
      lookalikes: LOOKALIKES,
    };
    const [message] = fc.sample(fresh, { seed: SEED, numRuns: 1 });
    const before = runs;
    expect(await target.handle(fuzzDelivery(good.seal(message!)))).toBe("ack");
    expect(runs).toBeGreaterThan(before);
  });

  it.each(HOSTILE_ENVELOPES)("$name", async (hostile) => {
    await expectHostileRejected(target, receiver, hostile, { seed: SEED, share });
  });

  it("sealed for another agent, for the server, or as a result", async () => {
    const protocol = target.protocol;
    const own = fuzzKeys(FUZZ_KEYS[self]);
    const others = await Promise.all([
      createCodec({ protocol, keyId: other, direction: "to-agent", keys: fuzzKeys(FUZZ_KEYS[other]) }),
      createCodec({ protocol, keyId: "server", direction: "to-server", keys: fuzzKeys(FUZZ_KEYS.server) }),
      createCodec({ protocol: 2, keyId: self, direction: "from-agent", keys: own }),
      // v1 binds no key id nor direction: this agent's own v1 keys seal the same bytes for any of them.
      ...(protocol === 2
        ? [
            createCodec({ protocol, keyId: other, direction: "to-agent", keys: own }),
            createCodec({ protocol, keyId: self, direction: "to-server", keys: own }),
          ]
        : []),
    ]);
    await expectAllRejected(target, sealedUncheckedByOneOf(others, fresh), {
      runs: n(8_000),
      seed: SEED + 8,
      reason: v1Lenient(protocol, ENVELOPE_REASON),
    });
  });

  it("replayed: each of 500 commands that ran delivered again, up to 20 times", async () => {
    const originals = fc.sample(sealed(good, fresh), { seed: SEED + 9, numRuns: 500 });
    const before = runs;
    for (const wire of originals) expect(await target.handle(fuzzDelivery(wire))).toBe("ack");
    expect(runs - before).toBeGreaterThanOrEqual(originals.length);
    await expectAllRejected(target, fc.constantFrom(...originals), {
      runs: n(10_000),
      seed: SEED + 10,
      reason: /^replay/,
    });
  });

  it("well-formed commands the agent refuses: protected or bad ip, unknown action or operation, forbidden params, foreign or bad updates", async () => {
    await expectAllRejected(target, sealed(good, refusedCommand(self)), {
      runs: n(10_000),
      seed: SEED + 15,
      reason: /^(BanRefusedError|ParamRefusedError|ActionNotFoundError|UpdateRefusedError)$/,
    });
  });
});

describe("afterwards", () => {
  it("actions_dir holds only the action it started with", async () => {
    expect(await readdir(actionsDir)).toEqual(["net2ban-demo.conf"]);
  });

  it("memory stays bounded", () => {
    // The replay memory holds ~1000 ids; everything else is garbage once handled.
    expect(stats.grown()).toBeLessThan(256 * 2 ** 20);
  });
});
