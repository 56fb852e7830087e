// --wait and status without a broker: a scripted reply session, the lines and exit codes net2banctl gives.
import type { Message } from "@net2ban/protocol";
import type { AcceptedMessage, ResultMessage, StateMessage } from "@net2ban/protocol/fleet";
import { exitCodeFor } from "@net2ban/runtime";
import { describe, expect, it } from "vitest";
import { banForJson, describeBan, describeBans } from "./status.js";
import { collectState, NoAnswerError, type ReplySession, sendAndWait } from "./wait.js";

const ID = "request-0001";

function session(replies: Message[]): ReplySession & { sent: Message[] } {
  const sent: Message[] = [];
  return {
    replyTo: "n2b_reply.test",
    sent,
    send: async (message) => {
      sent.push(message);
    },
    next: async () => replies.shift(),
    close: async () => undefined,
  };
}

const accepted = (hosts: string[], over: Partial<AcceptedMessage> = {}): AcceptedMessage => ({
  cmd: "accepted",
  requestId: ID,
  hosts,
  change: "new",
  timestamp: 1,
  id: "accepted-0001",
  sender: "server",
  ...over,
});

const result = (client: string, ok: boolean, over: Partial<ResultMessage> = {}): ResultMessage => ({
  cmd: "result",
  id: `result-${client}`,
  sender: client,
  timestamp: 1,
  requestId: ID,
  client,
  ok,
  exitCode: ok ? 0 : 1,
  durationMs: 4,
  stderr: ok ? "" : "iptables: No chain/target/match by that name.\n",
  op: "ban",
  ...over,
});

const request = { cmd: "ban", id: ID } as unknown as Message & { id: string };

async function run(replies: Message[], json = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  const s = session(replies);
  const code = await sendAndWait(io, s, request, {
    label: "ban 203.0.113.9",
    timeoutSeconds: 1,
    json,
    terminal: false,
  });
  return { code, out, err, sent: s.sent };
}

describe("--wait", () => {
  it("exit 0 when every host confirmed; a line per host as it arrives, results before accepted too", async () => {
    const { code, out, err, sent } = await run([
      result("web2", true, { op: "extend" }),
      accepted(["web1", "web2"]),
      result("web1", true),
    ]);
    expect(sent).toEqual([request]);
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(out).toEqual([
      "ban 203.0.113.9: sent to 2 host(s)",
      "  web2: ok (already banned, end moved, 4 ms)",
      "  web1: ok (ban, 4 ms)",
      "ban 203.0.113.9: confirmed by all 2 host(s)",
    ]);
  });

  it("exit 4 naming the hosts that failed and those that did not answer", async () => {
    const { code, out, err } = await run([
      accepted(["web1", "web2", "web3"]),
      result("web1", true),
      result("web2", false),
    ]);
    expect(code).toBe(4);
    expect(out.at(-1)).toBe("  web2: FAILED (ban, exit 1: iptables: No chain/target/match by that name.)");
    expect(err).toEqual(["net2banctl: ban 203.0.113.9: failed on web2; no answer within 1s from web3"]);
  });

  it("--json: one object with each host", async () => {
    const { code, out } = await run([accepted(["web1", "web2"]), result("web1", true)], true);
    expect(code).toBe(4);
    expect(JSON.parse(out[0]!)).toEqual({
      id: ID,
      change: "new",
      hosts: {
        web1: { answered: true, ok: true, exitCode: 0, durationMs: 4, op: "ban" },
        web2: { answered: false },
      },
      failed: [],
      missing: ["web2"],
    });
  });

  it("a refusal by the server is exit 2 with its reason; silence is NoAnswerError", async () => {
    const refused = await run([
      accepted([], { refused: "ban 127.0.0.1 refused: 127.0.0.0/8 is in ignoreip (default)" }),
    ]);
    expect(refused.code).toBe(2);
    expect(refused.err).toEqual([
      "net2banctl: ban 203.0.113.9: refused by the server: ban 127.0.0.1 refused: 127.0.0.0/8 is in ignoreip (default)",
    ]);
    await expect(run([])).rejects.toBeInstanceOf(NoAnswerError);
    // Sent, never confirmed: exit 4 (docs/cli.md, "Exit codes").
    expect(exitCodeFor(new NoAnswerError("ban: the server did not answer"))).toBe(4);
    // Replies to other requests are not this one's.
    await expect(run([accepted(["web1"], { requestId: "other-000001" })])).rejects.toThrow(
      /did not answer within 1s/,
    );
  });
});

describe("text from other hosts reaches the terminal escaped", () => {
  // Erase the line, rewrite the title (OSC), move up (CSI as the 8-bit C1 byte), bidi override, DEL.
  const hostile = "x\u001b[2K\u001b]0;owned\u0007\r\n\u009b1A\u202e\u007fy";
  const shown = "x\\x1b[2K\\x1b]0;owned\\x07\\r\\n\\x9b1A\\u202e\\x7fy";
  const raw = /[\u0000-\u001f\u007f-\u009f\u202e]/;

  it("an agent's detail and stderr, the server's refusal, in text and --json", async () => {
    const detail = await run([accepted(["web1", "web2"]), result("web1", false, { detail: hostile })]);
    expect(detail.out.at(-1)).toBe(`  web1: FAILED (ban, exit 1: ${shown})`);
    const stderr = await run([accepted(["web1"]), result("web1", false, { stderr: `${hostile}\n` })]);
    // the last line of stderr is shown: what follows the hostile LF
    expect(stderr.out.at(-1)).toBe(`  web1: FAILED (ban, exit 1: ${shown.split("\\n")[1]})`);
    const skip = await run([accepted(["web1"]), result("web1", true, { op: "skip", detail: hostile })]);
    expect(skip.out.at(-2)).toBe(`  web1: ok (${shown}, 4 ms)`);
    const refused = await run([accepted([], { refused: hostile })]);
    expect(refused.err).toEqual([`net2banctl: ban 203.0.113.9: refused by the server: ${shown}`]);
    const json = await run([accepted(["web1"]), result("web1", false, { detail: hostile })], true);
    for (const line of [
      ...detail.out,
      ...detail.err,
      ...stderr.out,
      ...skip.out,
      ...refused.err,
      ...json.out,
    ])
      expect(line).not.toMatch(raw);
    expect(JSON.parse(json.out[0]!).hosts.web1.detail).toBe(hostile);
  });

  it("a jail name (C1 and bidi pass its schema) in status", () => {
    const jail = "sshd\u009b2J\u202eevil";
    const line = describeBan(
      {
        file: "iptables",
        name: jail,
        ip: "203.0.113.9",
        expiresAt: null,
        createdAt: 0,
        updatedAt: 0,
        hosts: {},
      },
      0,
    );
    expect(line).toBe("203.0.113.9  iptables/sshd\\x9b2J\\u202eevil  permanent  applied 0/0");
  });
});

describe("status", () => {
  const ban: StateMessage["bans"][number] = {
    file: "iptables-multiport",
    name: "sshd",
    ip: "203.0.113.9",
    expiresAt: 1_700_000_600,
    createdAt: 1_700_000_000,
    updatedAt: 1_700_000_000,
    hosts: {
      web1: { state: "applied", at: 1 },
      web2: { state: "failed", at: 1, exitCode: 4 },
      web3: { state: "pending", at: 1 },
    },
  };

  it("a line per ban: address, action/jail, end, hosts by state", () => {
    expect(describeBan(ban, 1_700_000_000)).toBe(
      "203.0.113.9  iptables-multiport/sshd  2023-11-14T22:23:20Z (in 10m)  applied 1/3; failed: web2 (exit 4); pending: web3",
    );
    expect(describeBan({ ...ban, holders: { detect1: null, detect2: 1_700_000_600 } }, 1_700_000_000)).toBe(
      "203.0.113.9  iptables-multiport/sshd  2023-11-14T22:23:20Z (in 10m)  applied 1/3; failed: web2 (exit 4); pending: web3; held by detect1, detect2",
    );
    expect(describeBan({ ...ban, expiresAt: null, hosts: {} }, 0)).toBe(
      "203.0.113.9  iptables-multiport/sshd  permanent  applied 0/0",
    );
  });

  it("several bans: the columns line up", () => {
    const lines = describeBans(
      [
        ban,
        { ...ban, ip: "2001:db8::1", file: "nftables", expiresAt: null, hosts: {} },
        { ...ban, ip: "192.0.2.1", name: "web", expiresAt: 1_700_090_000 },
      ],
      1_700_000_000,
    );
    expect(lines).toEqual([
      "203.0.113.9  iptables-multiport/sshd  2023-11-14T22:23:20Z (in 10m)   applied 1/3; failed: web2 (exit 4); pending: web3",
      "2001:db8::1  nftables/sshd            permanent                       applied 0/0",
      "192.0.2.1    iptables-multiport/web   2023-11-15T23:13:20Z (in 1d1h)  applied 1/3; failed: web2 (exit 4); pending: web3",
    ]);
  });

  it("--json carries each time as seconds and as ISO 8601", () => {
    expect(banForJson(ban)).toMatchObject({
      expiresAt: 1_700_000_600,
      expires: "2023-11-14T22:23:20Z",
      created: "2023-11-14T22:13:20Z",
      updated: "2023-11-14T22:13:20Z",
      hosts: { web1: { state: "applied", at: 1, since: "1970-01-01T00:00:01Z" } },
    });
    expect(banForJson({ ...ban, expiresAt: null }).expires).toBeNull();
  });

  it("parts are put back in order; nothing until the last one is there", async () => {
    const part = (seq: number, last: boolean, ip: string): StateMessage => ({
      cmd: "state",
      requestId: ID,
      seq,
      last,
      bans: [{ ...ban, ip }],
      timestamp: 1,
      id: `state-${seq}-0001`,
      sender: "server",
    });
    const s = session([part(1, true, "192.0.2.2"), part(0, false, "192.0.2.1")]);
    expect((await collectState(s, ID, Date.now() + 1000))?.map((b) => b.ip)).toEqual([
      "192.0.2.1",
      "192.0.2.2",
    ]);
    expect(await collectState(session([part(1, true, "192.0.2.2")]), ID, Date.now() + 1000)).toBeUndefined();
  });
});
