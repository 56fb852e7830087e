// net2banctl's self-lockout guard: a ban of a protected address exits 2 with one line and sends nothing
// (net2banctl publishes through ctl_url, where nothing listens: reaching it fails with exit 3, not 2).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "@net2ban/config";
import { captureCli } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFull } from "./cli.js";
import { guardRequest } from "./guard.js";
import { run } from "./main.js";

const CONFIG = `[global]
url = amqp://guest:guest@192.0.2.50:5999/
ctl_url = amqp://guest:guest@127.0.0.1:5999/
rounds = 1000
secret = s
mode = server
authkey = a
ignoreip = 10.0.0.0/8

[server]
key = k
ignoreip = 2001:db8:5::/48

[web1]
key = k1
ignoreip = 203.0.113.0/28

[web2]
key = k2
`;

let dir = "";
let path = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "net2ban-ctl-guard-"));
  path = join(dir, "net2ban.cfg");
  await writeFile(path, CONFIG);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ctl = (runner: typeof run, ...argv: string[]) => captureCli(runner, ["--config", path, ...argv]);

describe.each([
  ["fast path", run],
  ["full CLI", runFull],
])("net2banctl (%s)", (_label, runner) => {
  it("ban of an address in [global] ignoreip: exit 2, the line the operator reads, nothing sent", async () => {
    expect(await ctl(runner, "ban", "10.0.0.1")).toEqual({
      code: 2,
      out: [],
      err: ["net2banctl: ban 10.0.0.1 refused: 10.0.0.0/8 is in ignoreip ([global])"],
    });
  });

  it("exec actionban with a protected ip, a CIDR containing one, [server]'s list, loopback, the broker", async () => {
    const cases: [string[], string][] = [
      [
        ["exec", "iptables-multiport", "actionban", "name=sshd", "ip=10.9.9.9"],
        "ban 10.9.9.9 refused: 10.0.0.0/8",
      ],
      [["ban", "0.0.0.0/0"], "ban 0.0.0.0/0 refused: 10.0.0.0/8"],
      [["ban", "2001:db8:5::7"], "ban 2001:db8:5::7 refused: 2001:db8:5::/48 is in ignoreip ([server])"],
      [["ban", "127.0.0.1"], "ban 127.0.0.1 refused: 127.0.0.0/8 is in ignoreip (default: loopback)"],
      [
        ["ban", "192.0.2.50"],
        "ban 192.0.2.50 refused: 192.0.2.50 is in ignoreip (default: broker 192.0.2.50)",
      ],
    ];
    for (const [argv, start] of cases) {
      const result = await ctl(runner, ...argv);
      expect(result.code).toBe(2);
      expect(result.err).toHaveLength(1);
      expect(result.err[0]).toMatch(
        new RegExp(`^net2banctl: ${start.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`),
      );
    }
  });

  it("exec with an ip that is not an address: exit 2 before anything is sent", async () => {
    const result = await ctl(runner, "exec", "iptables-multiport", "actionunban", "ip=1.2.3.4;reboot");
    expect(result).toEqual({
      code: 2,
      out: [],
      err: ['net2banctl: actionunban "1.2.3.4;reboot" refused: not an IPv4/IPv6 address or CIDR'],
    });
  });

  it("a ban only web1's own ignoreip covers, sent only to web1: refused, naming web1", async () => {
    const result = await ctl(runner, "ban", "203.0.113.5", "--to", "web1");
    expect(result.code).toBe(2);
    expect(result.err).toEqual([
      "net2banctl: ban 203.0.113.5 refused: 203.0.113.0/28 is in ignoreip ([web1]); web1 will not apply it",
    ]);
  });

  it("an unban of a protected address is not refused (it gets as far as the missing broker)", async () => {
    const result = await ctl(runner, "unban", "10.0.0.1");
    // Exit 3: nothing sent, the broker is unreachable (docs/cli.md, "Exit codes").
    expect(result.code).toBe(3);
    expect(result.err.join("\n")).toContain("127.0.0.1:5999");
  });
});

describe("guardRequest", () => {
  const { config } = parseConfig(CONFIG, "net2ban.cfg");
  const offline = { localAddresses: () => ["198.51.100.2"], resolveHost: false as const };

  it("notes the clients whose own ignoreip covers a ban that still goes to others", async () => {
    const notes = await guardRequest(
      config,
      { action: "actionban", params: { ip: "203.0.113.5" } },
      undefined,
      offline,
    );
    expect(notes).toEqual([
      "ban 203.0.113.5 refused: 203.0.113.0/28 is in ignoreip ([web1]); web1 will not apply it",
    ]);
  });

  it("protects the sending host's own addresses", async () => {
    await expect(
      guardRequest(config, { action: "actionban", params: { ip: "198.51.100.2" } }, undefined, offline),
    ).rejects.toThrow("ban 198.51.100.2 refused: 198.51.100.2 is in ignoreip (default: this host)");
  });

  it("lets through requests without ip, unbans, and bans of unprotected addresses", async () => {
    expect(await guardRequest(config, { action: "actionstart", params: {} }, undefined, offline)).toEqual([]);
    expect(
      await guardRequest(config, { action: "actionunban", params: { ip: "10.0.0.1" } }, undefined, offline),
    ).toEqual([]);
    expect(
      await guardRequest(config, { action: "actionban", params: { ip: "198.51.100.9" } }, ["web2"], offline),
    ).toEqual([]);
  });
});
