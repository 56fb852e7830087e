// Stably sealed v1 messages (the server's re-forwards) open in a Python v1 receiver written from the
// original's algorithm (test/v1_receiver.py: hashlib, hmac, the openssl command), which is first shown to
// read the legacy vectors as the original wrote them. Needs python3 and openssl.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createExecRequest, createUpdateRequest } from "./builders.js";
import { createCodec } from "./codec.js";
import type { KeyMaterial } from "./keys.js";

const RECEIVER = fileURLToPath(new URL("../test/v1_receiver.py", import.meta.url));

interface Received {
  ok: boolean;
  plaintext?: string;
  reason?: string;
}

function receive(messages: (KeyMaterial & { wire_b64: string })[]): Received[] {
  const out = execFileSync("python3", [RECEIVER], { input: JSON.stringify({ messages }), encoding: "utf8" });
  return JSON.parse(out) as Received[];
}

interface LegacyVector extends KeyMaterial {
  name: string;
  plaintext_json?: string;
  wire_b64: string;
  expect?: "reject";
}
const legacy = (
  JSON.parse(readFileSync(new URL("../test/vectors/legacy-v1.json", import.meta.url), "utf8")) as {
    vectors: LegacyVector[];
  }
).vectors;

describe("a Python v1 receiver", () => {
  it("reads every legacy vector as the original wrote it, and rejects the bad ones", () => {
    const received = receive(legacy);
    legacy.forEach((vector, i) => {
      if (vector.expect === "reject") expect(received[i]?.ok, vector.name).toBe(false);
      else expect(received[i], vector.name).toEqual({ ok: true, plaintext: vector.plaintext_json });
    });
  });

  it("opens stably sealed v1 messages: the same plaintext as the TypeScript codec's, the same bytes twice", async () => {
    const keys: KeyMaterial = { key: "client1 key", secret: "shared secret", rounds: 1000, authkey: "hola" };
    const codec = await createCodec({ protocol: 1, keyId: "client1", direction: "to-agent", keys });
    const now = () => 1_700_000_000_123;
    const messages = [
      createExecRequest({
        file: "iptables-multiport",
        action: "actionban",
        params: { ip: "192.0.2.10", name: "SSH", port: "ssh" },
        sender: "t",
        now,
      }),
      createExecRequest({
        file: "iptables",
        action: "actionunban",
        params: { ip: "2001:db8::1", note: "a;b $(c) ünï 🐟" },
        sender: "t",
        now,
      }),
      createExecRequest({ file: "f", action: "actionstop", params: {}, sender: "t", now }),
      createUpdateRequest({
        file: "x",
        client: "client1",
        content: Buffer.from("[Definition]\nactionban = true\n"),
        sender: "t",
        now,
      }),
    ];
    const wires = messages.map((message, i) => codec.seal(message, { stableFor: `input-mac-${i}` }));
    messages.forEach((message, i) => {
      expect(codec.seal(message, { stableFor: `input-mac-${i}` }).equals(wires[i]!)).toBe(true);
    });
    const received = receive(wires.map((wire) => ({ ...keys, wire_b64: wire.toString("base64") })));
    received.forEach((answer, i) => {
      expect(answer.ok).toBe(true);
      expect(JSON.parse(answer.plaintext!)).toEqual(
        JSON.parse(JSON.stringify(codec.open(wires[i]!).message)),
      );
    });
  });
});
