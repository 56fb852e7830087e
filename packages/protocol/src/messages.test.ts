// Schemas (every bound, at and past its limit) and the request builders.
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import {
  createBanRequest,
  createExecBanRequest,
  createExecRequest,
  createExecUnbanRequest,
  createResultMessage,
  createUnbanRequest,
  createUpdateRequest,
} from "./builders.js";
import { createCodec } from "./codec.js";
import { MAX_PLAINTEXT_BYTES } from "./envelope-v1.js";
import { MessageRejectedError } from "./errors.js";
import {
  type ExecMessage,
  LIMITS,
  legacyMessageSchema,
  messageSchema,
  type Net2banMessage,
  parseMessage,
  type ResultMessage,
  type UpdateMessage,
} from "./messages.js";
import { encodePythonJson, type PythonJsonValue } from "./python-json.js";

const exec: ExecMessage = {
  cmd: "exec",
  file: "iptables-multiport",
  action: "actionban",
  params: { ip: "203.0.113.9", name: "sshd" },
  timestamp: 1_700_000_000.5,
  id: "6f1c2a5e-8b3d-4c7e-9f10-2a3b4c5d6e7f",
  sender: "correlator",
};
const update: UpdateMessage = {
  cmd: "update",
  file: "iptables-multiport",
  content: Buffer.from("[Definition]\n").toString("base64"),
  client: "client1",
  timestamp: 1_700_000_000.5,
  id: "c2e1b0a9-9f8e-4d7c-8b6a-5f4e3d2c1b0a",
  sender: "ctl",
};
const result: ResultMessage = {
  cmd: "result",
  id: "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
  sender: "client1",
  timestamp: 1_700_000_000.5,
  requestId: exec.id,
  client: "client1",
  ok: true,
  exitCode: 0,
  durationMs: 4,
  stderr: "",
};

/** The rejection reason for `json` under `version`, or "accepted". */
function verdict(json: unknown, version: 1 | 2 = 2): string {
  try {
    parseMessage(json, version);
    return "accepted";
  } catch (error) {
    expect(error).toBeInstanceOf(MessageRejectedError);
    expect((error as Error).message).toBe("message rejected");
    return (error as MessageRejectedError).reason;
  }
}
const params = (count: number, value = "x") =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, value]));

describe("bounds: at the limit accepted, one past it rejected", () => {
  it.each([
    ["file", { ...exec, file: "f".repeat(64) }, { ...exec, file: "f".repeat(65) }],
    ["action", { ...exec, action: "a".repeat(64) }, { ...exec, action: "a".repeat(65) }],
    ["params count", { ...exec, params: params(64) }, { ...exec, params: params(65) }],
    [
      "param name",
      { ...exec, params: { ["k".repeat(64)]: "v" } },
      { ...exec, params: { ["k".repeat(65)]: "v" } },
    ],
    [
      "param value",
      { ...exec, params: { ip: "v".repeat(4096) } },
      { ...exec, params: { ip: "v".repeat(4097) } },
    ],
    [
      "content",
      { ...update, content: "A".repeat(LIMITS.content) },
      { ...update, content: "A".repeat(LIMITS.content + 4) },
    ],
    ["client", { ...update, client: "c".repeat(128) }, { ...update, client: "c".repeat(129) }],
    ["id (short)", { ...exec, id: "12345678" }, { ...exec, id: "1234567" }],
    ["id (long)", { ...exec, id: "i".repeat(128) }, { ...exec, id: "i".repeat(129) }],
    ["sender", { ...exec, sender: "s".repeat(255) }, { ...exec, sender: "s".repeat(256) }],
    [
      "to",
      { ...exec, to: Array.from({ length: 1024 }, (_, i) => `c${i}`) },
      { ...exec, to: Array.from({ length: 1025 }, (_, i) => `c${i}`) },
    ],
    ["stderr", { ...result, stderr: "e".repeat(2048) }, { ...result, stderr: "e".repeat(2049) }],
  ] as const)("%s", (_field, atLimit, pastLimit) => {
    expect(verdict(atLimit)).toBe("accepted");
    expect(verdict(pastLimit)).toMatch(/^schema: /);
  });
});

describe("field rules", () => {
  it.each([
    ["file", "../etc/passwd"],
    ["file", "a/b"],
    ["file", ".hidden"],
    ["file", "-rf"],
    ["file", "a..b"],
    ["file", ""],
    ["action", "ActionBan"],
    ["action", "1ban"],
    ["action", "action ban"],
    ["timestamp", -1],
    ["timestamp", "1700000000"],
    ["timestamp", Number.POSITIVE_INFINITY],
    ["timestamp", Number.NaN],
    ["sender", "a b"],
    ["id", "id with spaces"],
    ["to", []],
    ["to", ["a b"]],
    ["expires", -5],
    ["cmd", "shell"],
  ])("exec %s = %j rejected", (field, value) => {
    expect(verdict({ ...exec, [field]: value })).toMatch(new RegExp(`^schema: ${field}`));
  });

  it.each([
    [{ "1ip": "x" }, /^schema: params\.1ip: expected a parameter name/],
    [{ ip: 5 }, /^schema: params\.ip: expected a string, got number/],
    [{ ip: null }, /^schema: params\.ip: expected a string, got null/],
    [["ip"], /^schema: params: expected an object/],
    ["ip=1", /^schema: params: expected an object/],
  ])("params %j rejected", (value, reason) => {
    expect(verdict({ ...exec, params: value })).toMatch(reason);
  });

  it.each(["QUJD", "QUI=", "QQ==", ""])("content %j accepted", (content) => {
    expect(verdict({ ...update, content })).toBe("accepted");
  });
  it.each(["QUJ", "QQ=", "QQ===", "Q!==", "QU I="])("content %j rejected", (content) => {
    expect(verdict({ ...update, content })).toMatch(/^schema: content/);
  });

  it.each([
    ["iptables.local", "file"],
    ["client-1.example.org", "client"],
    ["web_01@dc2", "client"],
  ])("%j is a valid %s", (value, field) => {
    const message = field === "file" ? { ...exec, file: value } : { ...update, client: value };
    expect(verdict(message)).toBe("accepted");
  });

  it("exitCode is an integer or null; durationMs is not negative", () => {
    expect(verdict({ ...result, exitCode: null })).toBe("accepted");
    expect(verdict({ ...result, exitCode: 137 })).toBe("accepted");
    expect(verdict({ ...result, exitCode: 1.5 })).toMatch(/^schema: exitCode/);
    expect(verdict({ ...result, durationMs: -1 })).toMatch(/^schema: durationMs/);
  });

  it("unknown keys are removed, not rejected, so newer senders can add optional fields", () => {
    const parsed = parseMessage({ ...exec, priority: "high", params: { ...exec.params } }, 2);
    expect(parsed).toStrictEqual(exec);
  });

  it("a legacy message is not a v2 message (no id, no sender); a v2 message is a legacy one once stripped", () => {
    const { id: _id, sender: _sender, ...legacy } = exec;
    expect(verdict(legacy, 2)).toMatch(/^schema: (id|sender)/);
    expect(verdict(legacy, 1)).toBe("accepted");
    expect(legacyMessageSchema.parse(exec)).toStrictEqual(legacy);
  });

  it("results are v2 only", () => {
    expect(verdict(result, 1)).toMatch(/^schema: cmd/);
  });

  it("a version other than 1 or 2 is an argument error", () => {
    expect(() => parseMessage(exec, 3 as 2)).toThrow(RangeError);
  });

  it("the reason is bounded even for huge attacker-chosen keys", () => {
    const reason = verdict({ ...exec, params: { ["a".repeat(10_000)]: "x" } });
    expect(reason.length).toBeLessThan(400);
  });
});

describe("every schema-valid message fits the envelope (MAX_PLAINTEXT_BYTES) in both plaintext formats", () => {
  // Control characters are the worst case: six bytes (\u0001) per character in both formats.
  const worstValue = "\u0001".repeat(LIMITS.paramValue);
  const worstExec: ExecMessage = {
    ...exec,
    file: "f".repeat(64),
    action: "a".repeat(64),
    params: Object.fromEntries(
      Array.from({ length: 64 }, (_, i) => [`${"k".repeat(60)}${String(i).padStart(4, "0")}`, worstValue]),
    ),
    id: "i".repeat(128),
    sender: "s".repeat(255),
    expires: 1e300,
    to: Array.from({ length: 1024 }, (_, i) => `${"c".repeat(124)}${String(i).padStart(4, "0")}`),
  };
  const worstUpdate: UpdateMessage = {
    ...update,
    content: "A".repeat(LIMITS.content),
    client: "c".repeat(128),
  };

  it.each([
    ["exec", worstExec],
    ["update", worstUpdate],
  ])("%s: the largest message seals and opens in v1 and v2", async (_name, message: Net2banMessage) => {
    expect(messageSchema.safeParse(message).success).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(message))).toBeLessThan(MAX_PLAINTEXT_BYTES);
    const legacy = legacyMessageSchema.parse(message);
    expect(Buffer.byteLength(encodePythonJson(legacy as unknown as PythonJsonValue))).toBeLessThan(
      MAX_PLAINTEXT_BYTES,
    );
    const keys = { key: "k", secret: "s", rounds: 1, authkey: "a" };
    for (const protocol of [1, 2] as const) {
      const codec = await createCodec({ protocol, keyId: "client1", direction: "to-agent", keys });
      expect(codec.open(codec.seal(message)).message.cmd).toBe(message.cmd);
    }
  });

  it("one block more than the bound is rejected before the MAC is computed", async () => {
    const keys = { key: "k", secret: "s", rounds: 1, authkey: "a" };
    const codec = await createCodec({ protocol: 2, keyId: "client1", direction: "to-agent", keys });
    const header = codec.seal(exec).subarray(0, 10);
    const tooLong = Buffer.concat([header, Buffer.alloc(16 + MAX_PLAINTEXT_BYTES + 32 + 32)]);
    try {
      codec.open(tooLong);
      expect.unreachable();
    } catch (error) {
      expect((error as MessageRejectedError).code).toBe("bad-length");
    }
  });
});

describe("builders", () => {
  const now = () => 1_700_000_000_250;

  it("createBanRequest and createUnbanRequest stay as deprecated names of the exec builders", () => {
    expect(createBanRequest).toBe(createExecBanRequest);
    expect(createUnbanRequest).toBe(createExecUnbanRequest);
  });

  it("createExecBanRequest: actionban of iptables-multiport with ip and name, a UUID id, this host as sender", () => {
    const ban = createExecBanRequest({ ip: "203.0.113.9", name: "sshd", now });
    expect(ban).toMatchObject({
      cmd: "exec",
      file: "iptables-multiport",
      action: "actionban",
      params: { ip: "203.0.113.9", name: "sshd" },
      timestamp: 1_700_000_000.25,
      sender: hostname(),
    });
    expect(ban.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Object.keys(ban.params)).toEqual(["ip", "name"]);
    expect(ban).not.toHaveProperty("to");
    expect(ban).not.toHaveProperty("expires");
  });

  it("createExecUnbanRequest: actionunban, other action file, extra params, to, expires, id", () => {
    const unban = createExecUnbanRequest({
      ip: "2001:db8::/32",
      action: "nftables",
      params: { port: "ssh" },
      to: ["client1"],
      expires: 1_700_000_300,
      id: "my-tool:42:abcdef",
      sender: "soc-correlator",
      now,
    });
    expect(unban).toStrictEqual({
      cmd: "exec",
      file: "nftables",
      action: "actionunban",
      params: { ip: "2001:db8::/32", port: "ssh" },
      timestamp: 1_700_000_000.25,
      id: "my-tool:42:abcdef",
      sender: "soc-correlator",
      expires: 1_700_000_300,
      to: ["client1"],
    });
  });

  it.each([
    "203.0.113.9",
    "2001:db8::1",
    "198.51.100.0/24",
    "0.0.0.0/0",
    "2001:db8::/128",
    "::ffff:192.0.2.1",
  ])("ip %j accepted", (ip) => {
    expect(createExecBanRequest({ ip }).params["ip"]).toBe(ip);
  });
  it.each([
    "$(id>pwned.txt)",
    "300.1.1.1",
    "1.2.3.4/33",
    "::/129",
    "1.2.3.4/",
    "1.2.3.4/08",
    "",
    "host.example",
  ])("ip %j refused with a TypeError naming ip", (ip) => {
    expect(() => createExecBanRequest({ ip })).toThrow(
      /^"ip" expected an IPv4 or IPv6 address or CIDR block/,
    );
  });

  it("ip and name go in their own arguments, not in params", () => {
    expect(() => createExecBanRequest({ ip: "192.0.2.1", params: { ip: "192.0.2.2" } })).toThrow(
      '"params" must not contain "ip"',
    );
    expect(() => createExecBanRequest({ ip: "192.0.2.1", params: { name: "x" } })).toThrow(
      '"params" must not contain "name"',
    );
  });

  it("argument errors name the argument as the caller wrote it", () => {
    expect(() => createExecBanRequest({ ip: "192.0.2.1", action: "../x" })).toThrow(
      /^"action" expected a file base name/,
    );
    expect(() => createExecRequest({ file: "x", action: "Ban" })).toThrow(
      /^"action" expected an action name/,
    );
    expect(() =>
      createExecRequest({ file: "x", action: "ban", params: { ip: 1 as unknown as string } }),
    ).toThrow(/^"params.ip" expected a string, got number/);
    expect(() => createExecBanRequest({ ip: "192.0.2.1", to: [] })).toThrow(/^"to" /);
    expect(() => createExecBanRequest({ ip: "192.0.2.1", sender: "a b" })).toThrow(
      /^"sender" expected a host or tool name/,
    );
    expect(() => createExecBanRequest({ ip: "192.0.2.1", now: () => Number.NaN })).toThrow(RangeError);
    expect(() => createExecBanRequest({ ip: "192.0.2.1", expires: -1 })).toThrow(/^"expires" /);
  });

  it("createExecRequest: any action, params copied (later changes to the input do not leak in)", () => {
    const input = {
      cmd: "ignored",
      file: "iptables-multiport",
      action: "actionstart",
      params: { name: "sshd" },
      now,
    };
    const request = createExecRequest(input);
    input.params.name = "changed";
    expect(request.params).toStrictEqual({ name: "sshd" });
    expect(request.action).toBe("actionstart");
  });

  it("createUpdateRequest: bytes are base64-encoded, a string is taken as the base64 itself", () => {
    const text = "[Definition]\nactionban = true\n";
    const base64 = Buffer.from(text, "utf8").toString("base64");
    const fromBytes = createUpdateRequest({
      file: "custom",
      content: new TextEncoder().encode(text),
      client: "c1",
      now,
    });
    const fromBase64 = createUpdateRequest({ file: "custom", content: base64, client: "c1" });
    expect(fromBytes.content).toBe(base64);
    expect(fromBase64.content).toBe(base64);
    expect(() => createUpdateRequest({ file: "custom", content: text, client: "c1" })).toThrow(
      /^"content" expected base64/,
    );
    expect(() =>
      createUpdateRequest({ file: "custom", content: 5 as unknown as string, client: "c" }),
    ).toThrow(/^"content" expected a base64 string or a Uint8Array, got number/);
    expect(() =>
      createUpdateRequest({ file: "custom", content: new Uint8Array(LIMITS.content), client: "c1" }),
    ).toThrow(/^"content" Too big/);
  });

  it("createResultMessage keeps the end of stderr", () => {
    const stderr = `${"x".repeat(3000)}the end`;
    const made = createResultMessage({
      requestId: exec.id,
      client: "client1",
      ok: false,
      exitCode: 1,
      durationMs: 9,
      stderr,
    });
    expect(made.stderr).toHaveLength(2048);
    expect(made.stderr.endsWith("the end")).toBe(true);
    expect(made.requestId).toBe(exec.id);
  });

  it("every builder's output passes the wire schema", () => {
    for (const message of [
      createExecBanRequest({ ip: "192.0.2.1" }),
      createExecUnbanRequest({ ip: "192.0.2.1" }),
      createExecRequest({ file: "f", action: "actionstop" }),
      createUpdateRequest({ file: "f", content: "", client: "c" }),
      createResultMessage({ requestId: exec.id, client: "c", ok: true, exitCode: 0, durationMs: 0 }),
    ]) {
      expect(messageSchema.parse(JSON.parse(JSON.stringify(message)))).toStrictEqual(message);
    }
  });
});
