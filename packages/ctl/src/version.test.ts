// net2banctl version, --version on every command, and the bash completion script.
import { readFileSync } from "node:fs";
import { captureCli } from "@net2ban/test-utils";
import { describe, expect, it } from "vitest";
import { runFull } from "./cli.js";
import { run } from "./main.js";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};

describe("net2banctl version", () => {
  it("prints the package version and the protocols it speaks, as text and as JSON", async () => {
    expect(await captureCli(runFull, ["version"])).toEqual({
      code: 0,
      out: [`net2banctl ${version} (protocols 1, 2)`],
      err: [],
    });
    const json = await captureCli(runFull, ["version", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out[0] ?? "")).toEqual({ name: "net2banctl", version, protocols: [1, 2] });
  });

  const asked = [
    ["--version"],
    ["ban", "--version"],
    ["check-config", "--version"],
    ["-c", "/x", "--version"],
  ];
  it.each(asked.map((argv) => [argv.join(" "), argv]))("%s prints the version", async (_label, argv) => {
    expect(await captureCli(run, argv as string[])).toEqual({ code: 0, out: [version], err: [] });
  });
});

describe("net2banctl completion", () => {
  it("prints a bash script that asks net2banctl for the words", async () => {
    const result = await captureCli(runFull, ["completion"]);
    expect(result.code).toBe(0);
    const script = result.out.join("\n");
    expect(script).toContain(
      "complete -o bashdefault -o default -F _net2banctl_yargs_completions net2banctl",
    );
    expect(script).toContain("--get-yargs-completions");
  });

  it("completes commands and the options of a command", async () => {
    const commands = await captureCli(run, ["--get-yargs-completions", "net2banctl", ""]);
    expect(commands.out.join("\n").split("\n")).toEqual(
      expect.arrayContaining(["ban", "list-clients", "check-config", "version"]),
    );
    const options = await captureCli(run, ["--get-yargs-completions", "net2banctl", "ban", "--"]);
    expect(options.out.join("\n").split("\n")).toEqual(expect.arrayContaining(["--to", "--for", "--wait"]));
  });
});
