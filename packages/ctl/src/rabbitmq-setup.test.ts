// rabbitmq-setup planning: which login may do what (checked as regexes the way RabbitMQ applies them),
// where passwords come from, the script and config lines printed, and --apply's rabbitmqctl calls.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { lstat, mkdtemp, open, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "@net2ban/config";
import { UsageError } from "@net2ban/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileReadableByOthers } from "./private-file.js";
import { policyCalls } from "./queue-bounds.js";
import {
  applyRabbitmqSetup,
  generatePassword,
  literal,
  permissionCalls,
  planRabbitmqSetup,
  type RabbitmqctlCall,
  RabbitmqSetupError,
  renderConfigLines,
  renderSetupScript,
  runRabbitmqSetup,
  type SetupPlan,
  shellQuote,
} from "./rabbitmq-setup.js";

function config(
  global = "url = amqp://guest:guest@mq.example.net:5672/",
  clients = "[web1]\nkey = k1\n[db.2]\nkey = k2\n",
) {
  const text = `[global]
${global}
rounds = 1000
secret = s
authkey = a
mode = server
[server]
key = sk
${clients}`;
  return parseConfig(text, "/etc/net2ban/net2ban.cfg").config;
}

function counter(): () => string {
  let n = 0;
  return () => `pw${++n}`;
}

/** What RabbitMQ does with a permission regex: an unanchored match against the resource name. */
function allows(regex: string, resource: string): boolean {
  return new RegExp(regex).test(resource);
}

function loginOf(plan: SetupPlan, who: string) {
  const found = plan.logins.find((l) => (l.client ?? l.role) === who);
  if (found === undefined) throw new Error(`no login for ${who}`);
  return found;
}

describe("planRabbitmqSetup: permissions", () => {
  const plan = planRabbitmqSetup(config(), { randomPassword: counter() });
  const queues = ["input_net2ban", "net2ban_web1", "net2ban_db.2"];

  it("lets an agent declare and consume its own queue only, and publish to no queue but its .dead and the results", () => {
    const web1 = loginOf(plan, "web1").permissions;
    expect(allows(web1.read, "net2ban_web1")).toBe(true);
    expect(allows(web1.configure, "net2ban_web1")).toBe(true);
    expect(allows(web1.configure, "net2ban_web1.dead")).toBe(true);
    for (const other of [
      "net2ban_db.2",
      "input_net2ban",
      "net2ban_web10",
      "xnet2ban_web1",
      "net2ban_web1.dead",
    ]) {
      expect(allows(web1.read, other), other).toBe(false);
    }
    for (const exchange of ["", "amq.default", "net2ban.input", "amq.topic", ...queues]) {
      expect(allows(web1.write, exchange), exchange).toBe(false);
    }
    expect(allows(web1.write, "net2ban.dead")).toBe(true);
    // On that topic exchange, the routing keys it may use: its own dead letters and the server's results
    // queue (results and digests), nothing else.
    const topic = loginOf(plan, "web1").topicPermission!;
    expect(topic).toEqual({
      exchange: "net2ban.dead",
      write: "^(net2ban_web1\\.dead|net2ban_results)$",
      read: "^$",
    });
    expect(allows(topic.write, "net2ban_web1.dead")).toBe(true);
    expect(allows(topic.write, "net2ban_results")).toBe(true);
    for (const key of [...queues, "net2ban_db.2.dead", "input_net2ban.dead", "net2ban_results.dead", "#"]) {
      expect(allows(topic.write, key), key).toBe(false);
    }
  });

  it("escapes regex characters of names: db.2's queue does not match db22", () => {
    const db2 = loginOf(plan, "db.2").permissions;
    expect(allows(db2.read, "net2ban_db.2")).toBe(true);
    expect(allows(db2.read, "net2ban_db22")).toBe(false);
    expect(literal("a.b*c(d)[e]{f}|g^h$i?j+k\\l")).toBe(
      "a\\.b\\*c\\(d\\)\\[e\\]\\{f\\}\\|g\\^h\\$i\\?j\\+k\\\\l",
    );
  });

  it("lets net2banctl publish to the input exchange and nothing else, and read only its own reply queues", () => {
    const ctl = loginOf(plan, "ctl").permissions;
    expect(ctl.write).toBe("^net2ban\\.input$");
    for (const resource of [...queues, "amq.default", "net2ban.dead", "net2ban_results"]) {
      expect(allows(ctl.write, resource), resource).toBe(false);
      expect(allows(ctl.read, resource), resource).toBe(false);
      expect(allows(ctl.configure, resource), resource).toBe(false);
    }
    // --wait and status declare and consume an exclusive `<queue_prefix>reply.<uuid>` (wait.ts).
    const reply = `net2ban_reply.${randomUUID()}`;
    expect(allows(ctl.configure, reply)).toBe(true);
    expect(allows(ctl.read, reply)).toBe(true);
    expect(allows(ctl.write, reply)).toBe(false);
    for (const other of [
      "net2ban_reply.x",
      `${reply}.dead`,
      `x${reply}`,
      `net2ban_replyX${reply.slice(14)}`,
    ]) {
      expect(allows(ctl.configure, other), other).toBe(false);
      expect(allows(ctl.read, other), other).toBe(false);
    }
  });

  it("gives the server its queues, the clients' (also future ones) and both exchanges", () => {
    const srv = loginOf(plan, "server").permissions;
    for (const name of [
      ...queues,
      "net2ban_added_later",
      "net2ban.input",
      "net2ban.dead",
      "input_net2ban.dead",
    ]) {
      expect(allows(srv.configure, name), name).toBe(true);
    }
    expect(allows(srv.write, "amq.default")).toBe(true);
    expect(allows(srv.read, "input_net2ban")).toBe(true);
    expect(allows(srv.configure, "other_app_queue")).toBe(false);
    expect(allows(srv.read, "other_app_queue")).toBe(false);
  });
});

describe("planRabbitmqSetup: publishers", () => {
  it("gives each [publisher:NAME] a login of its own that may only publish to the input exchange", () => {
    const plan = planRabbitmqSetup(
      config(undefined, "[web1]\nkey = k1\n[publisher:detect1]\nkey = d1\n[publisher:detect2]\nkey = d2\n"),
      { randomPassword: counter() },
    );
    const publishers = plan.logins.filter((l) => l.role === "publisher");
    expect(publishers.map((l) => [l.publisher, l.user])).toEqual([
      ["detect1", "net2ban-publisher-detect1"],
      ["detect2", "net2ban-publisher-detect2"],
    ]);
    const rights = publishers[0]!.permissions;
    expect(rights).toEqual(loginOf(plan, "ctl").permissions);
    for (const resource of [
      "input_net2ban",
      "net2ban_web1",
      "amq.default",
      "net2ban.dead",
      "net2ban_results",
    ]) {
      expect(allows(rights.write, resource), resource).toBe(false);
      expect(allows(rights.read, resource), resource).toBe(false);
    }
    expect(allows(rights.write, "net2ban.input")).toBe(true);
    expect(plan.configLines.get("publisher:detect1")).toEqual([`url = ${publishers[0]!.urls.join(", ")}`]);
    expect(renderSetupScript(plan).join("\n")).toContain("# publisher detect2");
  });
});

describe("planRabbitmqSetup: logins, vhost and URLs", () => {
  it("generates one login per role in vhost net2ban, with URLs on the config's broker", () => {
    const plan = planRabbitmqSetup(config(), { randomPassword: counter() });
    expect(plan.vhost).toBe("net2ban");
    expect(plan.logins.map((l) => [l.user, l.password, l.passwordFrom])).toEqual([
      ["net2ban-server", "pw1", "generated"],
      ["net2ban-ctl", "pw2", "generated"],
      ["net2ban-web1", "pw3", "generated"],
      ["net2ban-db.2", "pw4", "generated"],
    ]);
    expect(loginOf(plan, "web1").urls).toEqual(["amqp://net2ban-web1:pw3@mq.example.net:5672/net2ban"]);
    expect(renderConfigLines(plan)).toEqual([
      "[global]",
      "ctl_url = amqp://net2ban-ctl:pw2@mq.example.net:5672/net2ban",
      "input_exchange = net2ban.input",
      "dead_letter_exchange = net2ban.dead",
      "[server]",
      "url = amqp://net2ban-server:pw1@mq.example.net:5672/net2ban",
      "[web1]",
      "url = amqp://net2ban-web1:pw3@mq.example.net:5672/net2ban",
      "[db.2]",
      "url = amqp://net2ban-db.2:pw4@mq.example.net:5672/net2ban",
    ]);
  });

  it("takes logins the config already has, keeps TLS and cluster nodes, and encodes the vhost", () => {
    const plan = planRabbitmqSetup(
      config(
        "url = amqps://ops:opspw@mq1:5671/fleet%2Fa, amqps://ops:opspw@mq2:5671/fleet%2Fa\nctl_url = amqps://pub:p%40ss@mq1:5671/fleet%2Fa\ninput_exchange = n2b.in",
        "[web1]\nkey = k1\nurl = amqps://w1:w1pw@mq1:5671/fleet%2Fa\n",
      ),
      { randomPassword: counter(), userPrefix: "x-" },
    );
    expect(plan.vhost).toBe("fleet/a");
    expect(plan.inputExchange).toBe("n2b.in");
    expect(plan.logins.map((l) => [l.user, l.password, l.passwordFrom])).toEqual([
      ["ops", "opspw", "config"],
      ["pub", "p@ss", "config"],
      ["w1", "w1pw", "config"],
    ]);
    expect(loginOf(plan, "ctl").urls).toEqual([
      "amqps://pub:p%40ss@mq1:5671/fleet%2Fa",
      "amqps://pub:p%40ss@mq2:5671/fleet%2Fa",
    ]);
  });

  it("never hands out guest, and refuses one login for two roles", () => {
    const plan = planRabbitmqSetup(config(), { randomPassword: counter(), vhost: "other" });
    expect(plan.logins.map((l) => l.user)).not.toContain("guest");
    expect(plan.vhost).toBe("other");
    expect(() =>
      planRabbitmqSetup(
        config("url = amqp://same:pw@mq:5672/v", "[web1]\nkey = k\nurl = amqp://same:pw@mq:5672/v\n"),
        {
          randomPassword: counter(),
        },
      ),
    ).toThrow(
      new UsageError(
        'login "same" would serve both server and web1: give each its own url (or none, to have one made)',
      ),
    );
  });

  it("refuses a client whose queue would match net2banctl's reply queues", () => {
    expect(() =>
      planRabbitmqSetup(config(undefined, `[reply.${randomUUID()}]\nkey = k\n`), {
        randomPassword: counter(),
      }),
    ).toThrow(/it looks like a net2banctl reply queue, which net2banctl's login may read; rename the client/);
  });

  it("refuses a client whose queue name has a topic wildcard word", () => {
    expect(() =>
      planRabbitmqSetup(config(undefined, "[a.#]\nkey = k\n"), { randomPassword: counter() }),
    ).toThrow(/queue "net2ban_a\.#": a "\*" or "#" between dots/);
  });
});

describe("renderSetupScript", () => {
  it("quotes every word for sh and passes passwords through stdin", () => {
    const plan = planRabbitmqSetup(config(), { randomPassword: () => "it's" });
    const script = renderSetupScript(plan, "rabbit@mq");
    expect(script).toContain("rabbitmqctl -n rabbit@mq add_vhost net2ban");
    expect(script).toContain("n2b_login net2ban-web1 'it'\\''s'");
    expect(script).toContain(
      "rabbitmqctl -n rabbit@mq set_permissions -p net2ban net2ban-web1 '^(net2ban_web1|net2ban_web1\\.dead)$' '^net2ban\\.dead$' '^net2ban_web1$'",
    );
    expect(script).toContain(
      "rabbitmqctl -n rabbit@mq set_topic_permissions -p net2ban net2ban-web1 net2ban.dead '^(net2ban_web1\\.dead|net2ban_results)$' '^$'",
    );
    expect(script.filter((line) => line.includes("add_user")).join("\n")).not.toMatch(/add_user "\$1" '/);
    expect(shellQuote("plain-word_1.2")).toBe("plain-word_1.2");
    expect(shellQuote("")).toBe("''");
  });
});

describe("applyRabbitmqSetup", () => {
  it("creates new logins, changes the password of existing ones, then sets permissions", async () => {
    const plan = planRabbitmqSetup(config(undefined, "[web1]\nkey = k1\n"), { randomPassword: counter() });
    const calls: RabbitmqctlCall[] = [];
    const report: string[] = [];
    await applyRabbitmqSetup(
      plan,
      async (call) => {
        calls.push(call);
        const stdout = call.args.includes("list_users")
          ? "user\ttags\nguest\t[administrator]\nnet2ban-ctl\t[]\n"
          : "";
        return { ok: true, stdout, stderr: "" };
      },
      (line) => report.push(line),
    );
    expect(calls.slice(0, 6)).toEqual([
      { args: ["add_vhost", "net2ban"] },
      ...policyCalls("net2ban", plan.policies),
      { args: ["-q", "list_users"] },
      { args: ["add_user", "net2ban-server"], stdin: "pw1" },
      { args: permissionCalls(plan)[0]!.args },
    ]);
    expect(calls).toContainEqual({ args: ["change_password", "net2ban-ctl"], stdin: "pw2" });
    expect(calls.flatMap((c) => c.args).join(" ")).not.toContain("pw");
    expect(report).toEqual([
      "vhost net2ban: ok",
      "policy net2ban-queues: ok",
      "policy net2ban-dead: ok",
      "login net2ban-server (server): ok",
      "login net2ban-ctl (ctl): ok",
      "login net2ban-web1 (agent web1): ok",
    ]);
  });

  it("stops at the first failure, quoting rabbitmqctl's last line", async () => {
    const plan = planRabbitmqSetup(config(), { randomPassword: counter() });
    const error = await applyRabbitmqSetup(
      plan,
      async (call) =>
        call.args[0] === "add_vhost"
          ? {
              ok: false,
              stdout: "",
              stderr: 'Adding vhost "net2ban" ...\nError: unable to perform an operation on node',
            }
          : { ok: true, stdout: "", stderr: "" },
      () => {},
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RabbitmqSetupError);
    expect((error as Error).message).toBe(
      "rabbitmq-setup: add_vhost net2ban failed: Error: unable to perform an operation on node",
    );
  });
});

describe("runRabbitmqSetup (the command's output)", () => {
  function io() {
    const out: string[] = [];
    return {
      out,
      io: { out: (line: string) => out.push(line), err: (line: string) => out.push(`ERR ${line}`) },
    };
  }

  it("prints a script that sh accepts as a whole, the config lines as comments at its end", async () => {
    const { out, io: sink } = io();
    expect(await runRabbitmqSetup(sink, config(), {})).toBe(0);
    const text = `${out.join("\n")}\n`;
    execFileSync("sh", ["-n"], { input: text });
    expect(out[0]).toBe("#!/bin/sh");
    expect(out).toContain("#   [web1]");
    expect(out.filter((line) => line.startsWith("#   url = amqp://net2ban-web1:"))).toHaveLength(1);
  });

  it("with --apply runs rabbitmqctl and prints the config lines plain; --json leaves passwords in the URLs only", async () => {
    const calls: RabbitmqctlCall[] = [];
    const runner = async (call: RabbitmqctlCall) => {
      calls.push(call);
      return { ok: true, stdout: "", stderr: "" };
    };
    const { out, io: sink } = io();
    await runRabbitmqSetup(sink, config(), { apply: true, node: "rabbit@mq", vhost: "fleet" }, runner);
    expect(calls[0]).toEqual({ args: ["-n", "rabbit@mq", "add_vhost", "fleet"] });
    expect(out).toContain("login net2ban-web1 (agent web1): ok");
    expect(out).toContain("[web1]");
    expect(
      out.some((line) =>
        /^url = amqp:\/\/net2ban-web1:[A-Za-z0-9_-]{32}@mq\.example\.net:5672\/fleet$/.test(line),
      ),
    ).toBe(true);

    const json = io();
    await runRabbitmqSetup(json.io, config(), { json: true }, runner);
    expect(json.out).toHaveLength(1);
    const parsed = JSON.parse(json.out[0]!) as { applied: boolean; logins: Record<string, unknown>[] };
    expect(parsed.applied).toBe(false);
    expect(parsed.logins.map((l) => l["user"])).toEqual([
      "net2ban-server",
      "net2ban-ctl",
      "net2ban-web1",
      "net2ban-db.2",
    ]);
    expect(parsed.logins.every((l) => !("password" in l))).toBe(true);
  });
});

describe("configs/rabbitmq/least-privilege.sh", () => {
  it("is what rabbitmq-setup prints for the sample configs/net2ban.cfg (placeholder passwords)", () => {
    const sample = readFileSync(new URL("../../../configs/net2ban.cfg", import.meta.url), "utf8");
    // The sample's [global] url carries a shared login; the script shows the one-login-per-role result.
    const text = sample.replace(/^url = .*$/m, "server = mq.example.net");
    const roles = ["server", "ctl", "client1", "client2"];
    const plan = planRabbitmqSetup(parseConfig(text, "net2ban.cfg").config, {
      randomPassword: () => `CHANGE-ME-${roles.shift()}`,
    });
    const expected = [
      ...renderSetupScript(plan),
      "",
      "# Then add to net2ban.cfg (see README.md) and restart the server, then each agent:",
      ...renderConfigLines(plan).map((line) => `#   ${line}`),
      "",
    ].join("\n");
    expect(
      readFileSync(new URL("../../../configs/rabbitmq/least-privilege.sh", import.meta.url), "utf8"),
    ).toBe(expected);
  });
});

describe("rabbitmq-setup's passwords", () => {
  const manyClients = Array.from({ length: 60 }, (_, i) => `[c${i}]\nkey = k${i}\n`).join("");

  it("never start with '-' (a command line would read one as an option)", async () => {
    let passwords = 0;
    for (let run = 0; run < 40; run++) {
      const out: string[] = [];
      await runRabbitmqSetup(
        { out: (l) => out.push(l), err: () => undefined },
        config(undefined, manyClients),
        {
          json: true,
        },
      );
      const urls = Object.values((JSON.parse(out[0]!) as { config: Record<string, string[]> }).config).flat();
      for (const line of urls) {
        for (const [, password] of line.matchAll(/\/\/[^:]+:([^@]+)@/g)) {
          passwords++;
          expect(password).not.toMatch(/^-/);
          expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
        }
      }
    }
    // 2,480 passwords: with a leading '-' in 1 of 64, all clean by chance is below 1e-17.
    expect(passwords).toBe(40 * 62);
  });

  it("are drawn again when the first character would be '-'", () => {
    const draws = [Buffer.alloc(24, 0xf8), Buffer.alloc(24, 0xfb), Buffer.alloc(24, 0x00)];
    expect(Buffer.alloc(24, 0xf8).toString("base64url")).toMatch(/^-/);
    expect(generatePassword(() => draws.shift()!)).toBe("A".repeat(32));
    expect(draws).toHaveLength(0);
  });
});

describe("rabbitmq-setup --output", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "n2b-setup-out-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  function sink() {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  }

  it("writes the script with mode 0600 under umask 022, and nothing secret to stdout", async () => {
    const path = join(dir, "setup.sh");
    const previous = process.umask(0o022);
    try {
      const s = sink();
      expect(await runRabbitmqSetup(s.io, config(), { output: path })).toBe(0);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const text = await readFile(path, "utf8");
      expect(text.startsWith("#!/bin/sh\n")).toBe(true);
      expect(text).toMatch(/# {3}url = amqp:\/\/net2ban-web1:[A-Za-z0-9_-]{32}@/);
      expect(s.out).toEqual([`rabbitmq-setup: written to ${path} (mode 0600: it holds passwords)`]);
      expect(s.err).toEqual([]);
      // Written again: replaced, still 0600.
      await runRabbitmqSetup(sink().io, config(), { output: path });
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readFile(path, "utf8")).not.toBe(text);
    } finally {
      process.umask(previous);
    }
  });

  it("replaces a symlink planted at the path instead of writing through it", async () => {
    const target = join(dir, "target");
    await writeFile(target, "untouched\n", { mode: 0o644 });
    const path = join(dir, "planted.sh");
    await symlink(target, path);
    await runRabbitmqSetup(sink().io, config(), { output: path, json: true });
    expect(await readFile(target, "utf8")).toBe("untouched\n");
    expect((await lstat(path)).isSymbolicLink()).toBe(false);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, "utf8")).vhost).toBe("net2ban");
    expect((await readdir(dir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("without --output, warns when standard output is a file others may read", async () => {
    const s = sink();
    await runRabbitmqSetup(s.io, config(), { stdoutReadableByOthers: true });
    expect(s.err).toEqual([
      "net2banctl: warning: standard output is a file others may read, and this output holds passwords: use --output FILE (mode 0600), or umask 077 before redirecting",
    ]);
    expect(s.out[0]).toBe("#!/bin/sh");
    expect(s.out.slice(0, 5).join("\n")).toContain("umask 077");
  });

  it("net2banctl rabbitmq-setup -o FILE", async () => {
    const cfg = join(dir, "net2ban.cfg");
    await writeFile(
      cfg,
      "[global]\nserver = mq.example.net\nrounds = 1000\nsecret = s\nauthkey = a\nmode = server\n[server]\nkey = sk\n[web1]\nkey = k1\n",
      { mode: 0o600 },
    );
    const out = join(dir, "by-cli.sh");
    const { run } = await import("./main.js");
    const s = sink();
    expect(await run(["rabbitmq-setup", "-o", out, "--config", cfg], s.io)).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(s.err).toEqual([]);
  });

  it("tells a file others may read (> FILE under umask 022) from a private file and a device", async () => {
    const check = async (mode: number) => {
      const path = join(dir, `fd-${mode.toString(8)}`);
      const handle = await open(path, "w", mode);
      try {
        await handle.chmod(mode);
        return fileReadableByOthers(handle.fd);
      } finally {
        await handle.close();
      }
    };
    expect(await check(0o644)).toBe(true);
    expect(await check(0o640)).toBe(true);
    expect(await check(0o600)).toBe(false);
    const devNull = await open("/dev/null", "w");
    try {
      expect(fileReadableByOthers(devNull.fd)).toBe(false);
    } finally {
      await devNull.close();
    }
  });
});
