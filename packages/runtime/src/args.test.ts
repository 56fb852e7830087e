// The daemons' command line: -c for --config, --version, and bad usage as UsageError.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseDaemonArgs } from "./args.js";
import { UsageError } from "./cli-errors.js";
import { packageVersion } from "./version.js";

const spec = { script: "net2ban-test", description: "test", version: "9.8.7", examples: [] };

describe("parseDaemonArgs", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("-c is --config", async () => {
    expect(await parseDaemonArgs(["-c", "/etc/x.cfg"], spec)).toMatchObject({ config: "/etc/x.cfg" });
    expect(await parseDaemonArgs(["--config", "/etc/y.cfg"], spec)).toMatchObject({ config: "/etc/y.cfg" });
  });

  it("--version prints the version and starts nothing", async () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    expect(await parseDaemonArgs(["--version"], spec)).toBeUndefined();
    expect(written).toEqual(["9.8.7\n"]);
  });

  it("an unknown option is a UsageError", async () => {
    await expect(parseDaemonArgs(["--frobnicate"], spec)).rejects.toBeInstanceOf(UsageError);
  });
});

describe("packageVersion", () => {
  it("reads the package.json above the module's directory", () => {
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    expect(packageVersion(import.meta.url)).toBe(version);
  });

  it("says unknown rather than failing", () => {
    expect(packageVersion("file:///nonexistent/dir/cli.js")).toBe("unknown");
  });
});
