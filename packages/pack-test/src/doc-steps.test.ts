// The guide's markers: where each block runs, and the mistakes that would let the guide drift from its test.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDocSteps } from "./doc-steps.js";
import { REPO_ROOT } from "./workspace.js";

describe("parseDocSteps", () => {
  it("reads run, env and skip markers with their blocks", () => {
    const steps = parseDocSteps(
      [
        "Intro",
        "<!-- env: A B -->",
        "```sh",
        "A=1",
        "# comment",
        "B=two",
        "```",
        "<!-- run: web1 web2; until: 203.0.113.9 -->",
        "```sh",
        "iptables -n -L",
        "```",
        "<!-- skip: no apt here -->",
        "```bash",
        "apt-get install x",
        "```",
        "```",
        "plain output is not a step",
        "```",
        "<!-- run: mq; until-not: x -->",
        "",
        "```sh",
        "true",
        "```",
      ].join("\n"),
    );
    expect(steps).toEqual([
      { kind: "env", line: 3, names: ["A", "B"], code: "A=1\n# comment\nB=two" },
      { kind: "run", line: 9, hosts: ["web1", "web2"], code: "iptables -n -L", until: "203.0.113.9" },
      { kind: "skip", line: 13, reason: "no apt here", code: "apt-get install x" },
      { kind: "run", line: 21, hosts: ["mq"], code: "true", untilNot: "x" },
    ]);
  });

  it("refuses a shell block without a marker, and a marker without a shell block", () => {
    expect(() => parseDocSteps("```sh\nls\n```\n")).toThrow(/line 1: sh block without/);
    expect(() => parseDocSteps("<!-- run: mq -->\ntext\n```sh\nls\n```\n")).toThrow(/not followed/);
    expect(() => parseDocSteps("<!-- run: mq -->\n```ini\nx\n```\n")).toThrow(/ini block, not sh/);
    expect(() => parseDocSteps("<!-- run: mq -->\n")).toThrow(/end of the file/);
  });

  it("refuses bad markers", () => {
    expect(() => parseDocSteps("<!-- run: -->\n```sh\nls\n```\n")).toThrow(/host names/);
    expect(() => parseDocSteps("<!-- run: mq; when: x -->\n```sh\nls\n```\n")).toThrow(/unknown option/);
    expect(() => parseDocSteps("<!-- skip: -->\n```sh\nls\n```\n")).toThrow(/reason/);
    expect(() => parseDocSteps("<!-- env: A -->\n```sh\nB=1\n```\n")).toThrow(/does not assign A/);
    expect(() => parseDocSteps("<!-- env: A -->\n```sh\nA=1\nrm -rf x\n```\n")).toThrow(/may only assign/);
  });

  it("docs/getting-started.md parses, runs on mq, web1 and web2, and bans on both web hosts", () => {
    const steps = parseDocSteps(readFileSync(join(REPO_ROOT, "docs", "getting-started.md"), "utf8"));
    const hosts = new Set(steps.flatMap((s) => (s.kind === "run" ? s.hosts : [])));
    expect([...hosts].sort()).toEqual(["mq", "web1", "web2"]);
    const checks = steps.filter((s) => s.kind === "run" && s.until === "203.0.113.9");
    expect(checks.flatMap((s) => (s.kind === "run" ? s.hosts : []))).toEqual(["web1", "web2"]);
  });
});
