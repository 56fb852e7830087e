// Config file lookup order and loading from disk.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MINIMUM_CONFIG } from "../test/seed-configs.js";
import { ConfigError } from "./errors.js";
import { findConfigPath, loadConfig } from "./load.js";

const only =
  (...present: string[]) =>
  (p: string) =>
    present.includes(p);

describe("findConfigPath", () => {
  it("prefers --config, then NET2BAN_CONFIG, then /etc, then /usr/share", () => {
    const all = only("/cli.cfg", "/env.cfg", "/etc/net2ban/net2ban.cfg", "/usr/share/net2ban/net2ban.cfg");
    const env = { NET2BAN_CONFIG: "/env.cfg" };
    expect(findConfigPath({ path: "/cli.cfg", env, exists: all })).toBe("/cli.cfg");
    expect(findConfigPath({ env, exists: all })).toBe("/env.cfg");
    expect(findConfigPath({ env: {}, exists: all })).toBe("/etc/net2ban/net2ban.cfg");
    expect(
      findConfigPath({ env: { NET2BAN_CONFIG: "" }, exists: only("/usr/share/net2ban/net2ban.cfg") }),
    ).toBe("/usr/share/net2ban/net2ban.cfg");
  });

  it("does not fall back when a named file is missing", () => {
    const exists = only("/etc/net2ban/net2ban.cfg");
    expect(() => findConfigPath({ path: "/nope.cfg", env: {}, exists })).toThrow(
      new ConfigError(["/nope.cfg: no such file (given with --config)"]),
    );
    expect(() => findConfigPath({ env: { NET2BAN_CONFIG: "/gone.cfg" }, exists })).toThrow(
      "/gone.cfg: no such file (given in NET2BAN_CONFIG)",
    );
  });

  it("names the places looked at when nothing is found", () => {
    let error: unknown;
    try {
      findConfigPath({ env: {}, exists: only() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).errors).toEqual([
      "no net2ban.cfg found; looked at /etc/net2ban/net2ban.cfg, /usr/share/net2ban/net2ban.cfg (use --config or NET2BAN_CONFIG)",
    ]);
  });
});

describe("loadConfig", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "net2ban-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the file, keeps the full path and reports with the base name", async () => {
    const good = join(dir, "net2ban.cfg");
    await writeFile(good, MINIMUM_CONFIG);
    const { config, warnings } = await loadConfig({ path: good, env: {} });
    expect(config.path).toBe(good);
    expect(warnings).toEqual([]);
    expect(config.clients.map((c) => c.name)).toEqual(["client1", "client2"]);

    const bad = join(dir, "bad.cfg");
    await writeFile(bad, MINIMUM_CONFIG.replace("rounds = 12000", "rounds = many"));
    await expect(loadConfig({ env: { NET2BAN_CONFIG: bad } })).rejects.toThrow(
      'bad.cfg: [global] rounds: expected a positive integer, got "many"',
    );
  });

  it("turns a read failure into a ConfigError", async () => {
    await expect(loadConfig({ path: dir, env: {} })).rejects.toThrow(
      new ConfigError([`${dir}: cannot read: EISDIR`]),
    );
  });
});
