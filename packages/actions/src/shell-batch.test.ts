// The multi-command shell: several rendered commands in one /bin/sh, each with its own exit status,
// stdout and stderr, its values positional parameters that no shell ever reads as code.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCommand } from "./run.js";
import { batchEntry, runShellBatch } from "./shell-batch.js";
import { buildShellCommand } from "./tags.js";

const options = { timeoutMs: 10_000 };

describe("runShellBatch", () => {
  it("reports each command's exit status, stdout and stderr separately", async () => {
    const { results } = await runShellBatch(
      [
        "echo out-a; echo err-a >&2",
        "printf 'no newline'; printf 'err-b' >&2",
        "echo out-c; echo err-c >&2; exit 0",
      ],
      runCommand,
      options,
    );
    expect(results).toEqual([
      { ran: true, exitCode: 0, stdout: "out-a\n", stderr: "err-a\n" },
      { ran: true, exitCode: 0, stdout: "no newline", stderr: "err-b" },
      { ran: true, exitCode: 0, stdout: "out-c\n", stderr: "err-c\n" },
    ]);
  });

  it("stops at the first failure: the failed one has its own status and stderr, the rest did not run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "n2b-batch-"));
    try {
      const { results } = await runShellBatch(
        ["true", "echo broken >&2; exit 3", `touch ${dir}/after`],
        runCommand,
        options,
      );
      expect(results.map((r) => [r.ran, r.exitCode, r.stderr])).toEqual([
        [true, 0, ""],
        [true, 3, "broken\n"],
        [false, null, ""],
      ]);
      expect(existsSync(join(dir, "after"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps each command in its own subshell: exit, set -e and variables stay there; the driver's are unset", async () => {
    const { results } = await runShellBatch(
      [
        "X=1; set -e; exit 0",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
        'echo "${X-unset} ${net2ban_n-unset} ${net2ban_s-unset} ${net2ban_i-unset}"; false; echo still',
      ],
      runCommand,
      options,
    );
    expect(results[0]).toMatchObject({ ran: true, exitCode: 0 });
    expect(results[1]).toMatchObject({ ran: true, exitCode: 0, stdout: "unset unset unset unset\nstill\n" });
  });

  it("passes values as positional parameters, each command its own slice", async () => {
    const commands = [
      buildShellCommand('echo "$f2bV_a|$f2bV_b"', [
        ["f2bV_a", "one"],
        ["f2bV_b", "two"],
      ]),
      "echo plain",
      buildShellCommand('echo "$f2bV_c"', [["f2bV_c", "three"]]),
    ];
    const { results } = await runShellBatch(commands, runCommand, options);
    expect(results.map((r) => r.stdout)).toEqual(["one|two\n", "plain\n", "three\n"]);
  });

  it("refuses scripts that read positional parameters themselves (they run alone)", () => {
    expect(batchEntry('echo "$1"')).toBeUndefined();
    expect(batchEntry("echo $#")).toBeUndefined();
    expect(batchEntry(buildShellCommand('echo "$f2bV_a" "$@"', [["f2bV_a", "x"]]))).toBeUndefined();
    expect(batchEntry(["a=$1 \necho $a", "x"])).toBeUndefined();
    expect(batchEntry(buildShellCommand('echo "$f2bV_a"', [["f2bV_a", "x"]]))).toEqual({
      script: 'f2bV_a=$1 \necho "$f2bV_a"',
      values: ["x"],
    });
  });
});

describe("runShellBatch values (canary corpus)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "n2b-canary-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("no value is ever run: each arrives byte for byte, no canary file appears", async () => {
    const canary = join(dir, "canary");
    const corpus = [
      `$(touch ${canary})`,
      `\`touch ${canary}\``,
      `; touch ${canary}`,
      `' ; touch ${canary} #`,
      `" ; touch ${canary} #`,
      `\ntouch ${canary}\n`,
      `$(touch ${canary})\u001e0 0\u001e`,
      `\\"; touch ${canary}; echo \\"`,
      `&& touch ${canary}`,
      `| touch ${canary}`,
      `\${IFS}touch\${IFS}${canary}`,
      `*`,
      `-e`,
    ];
    const commands = corpus.map((value) =>
      buildShellCommand('printf "%s" "$f2bV_matches"; printf "%s" $f2bV_matches >&2', [
        ["f2bV_matches", value],
      ]),
    );
    const { results } = await runShellBatch(commands, runCommand, options);
    expect(results.map((r) => r.stdout)).toEqual(corpus);
    expect(results.every((r) => r.ran && r.exitCode === 0)).toBe(true);
    expect(existsSync(canary)).toBe(false);
  });
});
