// Injection through the whole path on the real broker: hostile params and update names/contents sent
// with net2banctl (argv, no shell) through the server to two agents (v2 and v1), and the same sent
// straight into an agent's queue. Every value reaches the action as data, byte for byte, or is refused
// with a clear error; canary files that a successful injection would create never appear, and nothing
// is written outside actions_dir.
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createExecRequest, createUpdateRequest } from "@net2ban/protocol";
import { brokerUrl } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet, probeBroker } from "./fleet.js";
import { linesAfter, publishRaw, sealForAgent } from "./intruder.js";

const url = brokerUrl();
const AGENTS = ["agent1", "agent2"] as const;

let fleet: Fleet;
let canaryDir = "";
/** The file a planted symlink points at: its content must never change. */
let outside = "";
const OUTSIDE_CONTENT = "# outside actions_dir: must never be written\n";

const recordDir = (agent: string) => join(fleet.agentDir(agent), "records");
const actionsDir = (agent: string) => join(fleet.agentDir(agent), "actions");

/**
 * The probe action: writes its two caller options, NUL-separated, to a file named after the ban's
 * address. `<note>` stands inside double quotes, `<words>` as a plain word (word-split as in fail2ban
 * when it holds no shell special). The fleet's allow_params lets messages set both.
 */
function probeAction(agent: string): string {
  return [
    "[Definition]",
    // Written aside and renamed, so that the test never reads a half-written record.
    `actionban = printf '%%s\\000' "<note>" <words> > <recdir>/<ip>.part && mv <recdir>/<ip>.part <recdir>/<ip>.rec`,
    "actionunban = true",
    "",
    "[Init]",
    `recdir = ${recordDir(agent)}`,
    "note = none",
    "words = none",
    "",
  ].join("\n");
}

// Characters fail2ban's CommandAction treats as shell specials (docs/fail2ban-compat.md, rule 4).
const SHELL_SPECIAL = /[\\#&;`|*?~<>^()[\]{}$'"\r\n]/;

/** Hostile values; `CANARY` becomes a path that only a successful injection would create. */
const CORPUS: readonly string[] = [
  "; touch CANARY",
  "x | touch CANARY",
  "x && touch CANARY",
  "x || touch CANARY",
  "$(touch CANARY)",
  "`touch CANARY`",
  "'; touch CANARY; '",
  '"; touch CANARY; "',
  '\\"; touch CANARY; \\"',
  "x\ntouch CANARY",
  "x\r\ntouch CANARY",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, on purpose
  "${IFS}touch${IFS}CANARY",
  "$((1+1))$(touch CANARY)",
  "> CANARY",
  "x; cat /etc/passwd > CANARY",
  "<recdir>",
  "%(recdir)s",
  "100%",
  "~root/*",
  "[a-z]?",
  "{a,b}",
  "#comment; touch CANARY",
  "it's",
  'say "hi"',
  "back\\slash\\n",
  "-rf",
  "--help",
  "\ttab and  spaces ",
  "；touch CANARY", // fullwidth semicolon
  "｜touch CANARY", // fullwidth vertical line
  "＄（touch CANARY）", // fullwidth dollar and parentheses
  "x\u2028touch CANARY", // line separator
  "\u202etouch CANARY", // right-to-left override
  "t\u200bouch", // zero-width space
  "tоuch", // Cyrillic о
  "ok ✓ 🚫",
  `${"A".repeat(4000)}$(touch CANARY)`,
];

/** What the action receives: the quoted tag whole; the plain-word tag split unless it holds a special. */
function expectedRecord(value: string): string[] {
  const words = SHELL_SPECIAL.test(value) ? [value] : value.split(/[ \t\n]+/).filter((w) => w !== "");
  return [value, ...words];
}

async function readRecord(agent: string, ip: string, timeoutMs = 15_000): Promise<string[]> {
  const path = join(recordDir(agent), `${ip}.rec`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fields = (await readFile(path)).toString("utf8").split("\0");
      fields.pop(); // after the last NUL
      return fields;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (Date.now() > deadline) throw new Error(`${agent} never wrote ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const canary = (i: number) => join(canaryDir, `c${i}`);
const withCanary = (value: string, i: number) => value.replaceAll("CANARY", canary(i));

beforeAll(async () => {
  try {
    await probeBroker(url);
  } catch (error) {
    throw new Error(
      `RabbitMQ is not answering at ${url} (${(error as Error).message}): start it with \`rabbitmq-server -detached\``,
    );
  }
  fleet = await Fleet.create({
    agents: 2,
    protocols: [2, 1],
    brokerUrl: url,
    rounds: 1000,
    label: "inject",
    global: { ignoreip: "203.0.113.0/24", allow_params: "probe:note, probe:words" },
  });
  canaryDir = join(fleet.dir, "canary");
  await mkdir(canaryDir);
  outside = join(canaryDir, "outside.conf");
  await writeFile(outside, OUTSIDE_CONTENT);
  for (const agent of AGENTS) {
    await mkdir(recordDir(agent));
    await writeFile(join(actionsDir(agent), "probe.conf"), probeAction(agent));
    // Planted by someone who can write actions_dir: an update must replace them, never write through.
    await symlink(outside, join(actionsDir(agent), "planted.conf"));
    await symlink(join(canaryDir, "dangling.conf"), join(actionsDir(agent), "dangling.conf"));
  }
  await fleet.startAll();
}, 60_000);

afterAll(async () => {
  await fleet?.close();
});

describe("params through ctl -> server -> agents", () => {
  it("every hostile value reaches both agents' action as data, byte for byte", async () => {
    const sent: { ip: string; value: string }[] = [];
    for (const [i, raw] of CORPUS.entries()) {
      const value = withCanary(raw, i);
      const ip = `198.51.100.${10 + i}`;
      const result = await fleet.ctl([
        "exec",
        "probe",
        "actionban",
        `ip=${ip}`,
        "name=probe",
        `note=${value}`,
        `words=${value}`,
      ]);
      expect({ value, code: result.code, stderr: result.stderr }).toEqual({ value, code: 0, stderr: "" });
      sent.push({ ip, value });
    }
    for (const { ip, value } of sent) {
      for (const agent of AGENTS)
        expect({ agent, value, record: await readRecord(agent, ip) }).toEqual({
          agent,
          value,
          record: expectedRecord(value),
        });
    }
    expect(await readdir(canaryDir)).toEqual(["outside.conf"]);
  }, 120_000);

  it("an ip that is not an address, or a protected one, is refused by net2banctl: exit 2, one line, nothing sent", async () => {
    const before = fleet.process("server").lines.length;
    const cases = [
      ["ban", "198.51.100.200; touch CANARY"],
      ["ban", "$(touch CANARY)"],
      ["ban", "198.51.100.201\ntouch CANARY"],
      ["ban", "１９８.51.100.202"], // fullwidth digits
      ["ban", "fe80::1%eth0"],
      ["ban", "198.51.100.0/255.255.255.0"],
      ["exec", "probe", "actionban", "ip=`touch CANARY`"],
      ["exec", "probe", "actionunban", "ip=198.51.100.203 && touch CANARY"],
      ["ban", "203.0.113.7"],
      ["ban", "127.0.0.1"],
      ["ban", "0.0.0.0/0"],
    ];
    for (const [i, argv] of cases.entries()) {
      const result = await fleet.ctl(argv.map((a) => withCanary(a, 100 + i)));
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(/^net2banctl: .*(not an IPv4\/IPv6 address or CIDR|is in ignoreip \()/);
    }
    // Nothing reached the server: a marker ban is the next thing it forwards.
    expect((await fleet.ctl(["exec", "probe", "actionban", "ip=198.51.100.250", "note=marker"])).code).toBe(
      0,
    );
    for (const agent of AGENTS) expect(await readRecord(agent, "198.51.100.250")).toEqual(["marker", "none"]);
    const forwarded = fleet
      .process("server")
      .lines.slice(before)
      .filter((l) => l.msg.startsWith("Forwarding"));
    expect(forwarded).toHaveLength(1);
    expect(await readdir(canaryDir)).toEqual(["outside.conf"]);
  }, 60_000);
});

describe("the same, injected straight into the agents' queues", () => {
  it("held to the same rules: data byte for byte, or refused with one line (NUL, bad or protected ip)", async () => {
    for (const agent of AGENTS) {
      const from = fleet.process(agent).lines.length;
      const queue = `${fleet.prefix}_${agent}`;
      const exec = (params: Record<string, string>) =>
        sealForAgent(
          fleet,
          agent,
          createExecRequest({ file: "probe", action: "actionban", params, sender: "intruder" }),
        );
      const good = await Promise.all(
        CORPUS.map(async (raw, i) => {
          const value = withCanary(raw, 200 + i);
          const ip = `2001:db8:1::${(i + 1).toString(16)}`;
          return { ip, value, body: await exec({ ip, note: value, words: value }) };
        }),
      );
      const refused = await Promise.all([
        exec({ ip: "2001:db8:1::ff", note: "a\u0000b" }),
        exec({ ip: `2001:db8:1::fe; touch ${canary(300)}` }),
        exec({ ip: "203.0.113.9" }),
        exec({ ip: "::1" }),
        exec({ ip: "127.0.0.0/8" }),
        exec({ ip: "2001:db8:1::fd", actionban: `touch ${canary(301)}` }),
      ]);
      await publishRaw(url, queue, [...good.map((g) => g.body), ...refused]);
      for (const { ip, value } of good)
        expect({ value, record: await readRecord(agent, ip) }).toEqual({
          value,
          record: expectedRecord(value),
        });
      const errors = await linesAfter(fleet, agent, from, (l) => l.level >= 50, refused.length);
      expect(errors.map((l) => l.msg)).toEqual([
        'param "note" refused: value contains a NUL character',
        `ban "2001:db8:1::fe; touch ${canary(300)}" refused: not an IPv4/IPv6 address or CIDR`,
        "ban 203.0.113.9 refused: 203.0.113.0/24 is in ignoreip ([global])",
        "ban ::1 refused: ::1 is in ignoreip (default: loopback)",
        "ban 127.0.0.0/8 refused: 127.0.0.0/8 is in ignoreip (default: loopback)",
        'param "actionban" refused: a message may not replace a [Definition] operation or switch',
      ]);
    }
    expect(await readdir(canaryDir)).toEqual(["outside.conf"]);
  }, 120_000);
});

describe("update names and contents", () => {
  it("net2banctl update replaces a planted symlink (dangling or not) and never writes through it", async () => {
    const source = join(fleet.dir, "planted.conf");
    await writeFile(source, "[Definition]\nactionban = true\n");
    const dangling = join(fleet.dir, "dangling.conf");
    await writeFile(dangling, "[Definition]\nactionban = true\n");
    for (const agent of AGENTS) {
      expect((await fleet.ctl(["update", agent, source])).code).toBe(0);
      expect((await fleet.ctl(["update", agent, dangling])).code).toBe(0);
      await fleet.waitForLog(agent, (l) => l.msg === 'File "planted" updated');
      await fleet.waitForLog(agent, (l) => l.msg === 'File "dangling" updated');
      for (const name of ["planted.conf", "dangling.conf"]) {
        const path = join(actionsDir(agent), name);
        expect((await lstat(path)).isSymbolicLink()).toBe(false);
        expect(await readFile(path, "utf8")).toBe("[Definition]\nactionban = true");
      }
    }
    expect(await readFile(outside, "utf8")).toBe(OUTSIDE_CONTENT);
    expect(await readdir(canaryDir)).toEqual(["outside.conf"]);
  }, 60_000);

  it("a path with .. or a hidden name is reduced to its base name, written inside actions_dir", async () => {
    const sub = join(fleet.dir, "sub");
    await mkdir(sub);
    await writeFile(join(sub, ".evil.conf"), "[Definition]\nactionban = true\n");
    const result = await fleet.ctl(["update", "agent1", join(sub, "..", "sub", ".evil.conf")]);
    expect(result.code).toBe(0);
    await fleet.waitForLog("agent1", (l) => l.msg === 'File "evil" updated');
    expect((await readdir(actionsDir("agent1"))).sort()).toContain("evil.conf");
  });

  it("a file too large for the wire is refused by net2banctl; one too large for an action file by the agent", async () => {
    const huge = join(fleet.dir, "huge.conf");
    await writeFile(huge, `[Definition]\nactionban = true\n${"#".repeat(64)}\n${"x = y\n".repeat(400_000)}`);
    const tooBig = await fleet.ctl(["update", "agent1", huge]);
    // Bad input: exit 2, one line naming the file and the bound in bytes of the file.
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^net2banctl: update: \S*huge\.conf: \d+ bytes without comments and blank lines; an update carries at most 786432 bytes$/,
      ),
    ]);
    const large = join(fleet.dir, "large.conf");
    await writeFile(large, `[Definition]\nactionban = true\n${"x = y\n".repeat(50_000)}`);
    const from = fleet.process("agent1").lines.length;
    expect((await fleet.ctl(["update", "agent1", large])).code).toBe(0);
    const [refusal] = await linesAfter(fleet, "agent1", from, (l) => l.level >= 50, 1);
    expect(refusal?.msg).toBe("update: content larger than 262144 bytes refused");
    expect(await readdir(actionsDir("agent1"))).not.toContain("large.conf");
  });

  it("injected straight into the queue: traversal, absolute, hidden, NUL names, NUL content, another client's update", async () => {
    const queue = `${fleet.prefix}_agent1`;
    const content = Buffer.from(`[Definition]\nactionban = touch ${canary(400)}\n`).toString("base64");
    const base = createUpdateRequest({ file: "ok", content, client: "agent1", sender: "intruder" });
    const names = [
      "../evil",
      "../../canary/evil",
      `/${canaryDir}/evil`,
      ".hidden",
      "a/b",
      "..",
      "x\u0000y",
      "x.conf",
      "-x",
      "_x",
    ];
    const bodies = await Promise.all([
      ...names.map((file) =>
        sealForAgent(fleet, "agent1", {
          ...base,
          id: `${base.id}-${file.length}${names.indexOf(file)}`,
          file,
        }),
      ),
      sealForAgent(fleet, "agent1", {
        ...base,
        id: `${base.id}-nul`,
        file: "nul",
        content: Buffer.from("[Definition]\0").toString("base64"),
      }),
      sealForAgent(fleet, "agent1", { ...base, id: `${base.id}-other`, file: "other", client: "agent2" }),
    ]);
    const from = fleet.process("agent1").lines.length;
    await publishRaw(url, queue, bodies);
    // The transport's own "message moved to <queue>.dead" line follows each refusal; it is not counted.
    const lines = await linesAfter(
      fleet,
      "agent1",
      from,
      (l) => l.level >= 40 && !l.msg.startsWith("message moved to"),
      bodies.length,
    );
    // Names the schema refuses never get past the envelope; the others are refused by the agent.
    for (const line of lines) {
      expect(line.msg).toMatch(
        /^(message rejected|update: .*refused.*|update: content contains NUL bytes, refused|update for client "agent2" reached agent "agent1")$/,
      );
    }
    expect((await readdir(actionsDir("agent1"))).sort()).toEqual(
      ["dangling.conf", "evil.conf", "net2ban-demo.conf", "planted.conf", "probe.conf"].sort(),
    );
    expect(await readdir(canaryDir)).toEqual(["outside.conf"]);
    expect(await readFile(outside, "utf8")).toBe(OUTSIDE_CONTENT);
    // Nothing beside actions_dir either: only what the fleet and the probe action made.
    for (const agent of AGENTS) {
      for (const entry of await readdir(fleet.agentDir(agent))) {
        expect(["actions", "state", "records", "net2ban.cfg", "bans.log"]).toContain(entry);
      }
    }
  }, 60_000);
});
