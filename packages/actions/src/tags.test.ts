// Tag substitution pieces, with fail2ban's own documented examples where it has them.

import { describe, expect, it } from "vitest";
import { ActionConfigError } from "./errors.js";
import {
  buildShellCommand,
  escapeTag,
  replaceDynamicTags,
  replaceTag,
  substituteRecursiveTags,
} from "./tags.js";

const hostname = { fq: "host.example.com", short: "host" };

describe("substituteRecursiveTags", () => {
  it("resolves tags between values (helpers.substituteRecursiveTags docstring: b = <a>_3)", () => {
    const out = substituteRecursiveTags(
      new Map([
        ["a", "3"],
        ["b", "<a>_3"],
        ["c", "<<d>>"],
        ["d", "a"],
      ]),
      { file: "f" },
    );
    expect(Object.fromEntries(out)).toEqual({ a: "3", b: "3_3", c: "3", d: "a" });
  });

  it("prefers the conditional variant and leaves unknown tags", () => {
    const tags = new Map([
      ["cmd", "iptables"],
      ["cmd?family=inet6", "ip6tables"],
      ["x", "<cmd> <nope>"],
    ]);
    expect(substituteRecursiveTags(tags, { conditional: "family=inet6", file: "f" }).get("x")).toBe(
      "ip6tables <nope>",
    );
    expect(substituteRecursiveTags(tags, { file: "f" }).get("x")).toBe("iptables <nope>");
  });

  it("throws ActionConfigError on self reference", () => {
    expect(() =>
      substituteRecursiveTags(
        new Map([
          ["a", "<b>"],
          ["b", "<a>"],
        ]),
        { file: "f.conf" },
      ),
    ).toThrow(ActionConfigError);
  });
});

describe("replaceTag / replaceDynamicTags", () => {
  it("fills <br>, <sp> and host names, escapes config-side <matches>", () => {
    const props = new Map([
      ["actionban", "a<br>b<sp><fq-hostname> <sh-hostname> <matches>"],
      ["matches", "x;y"],
    ]);
    expect(replaceTag("<actionban>", props, "", hostname, "f")).toBe("a\nb host.example.com host x\\;y");
  });

  it("passes ticket values with shell specials as f2bV_ variables, F-tags last", () => {
    const values = {
      tags: new Map([
        ["ip", "192.0.2.1"],
        ["matches", "a;b"],
      ]),
      captures: new Map([["user", "r$(id)"]]),
    };
    const result = replaceDynamicTags("ban <ip> <F-USER> <matches> <matches> <F-NONE>", values, hostname);
    expect(result).toEqual({
      script: "ban 192.0.2.1 $f2bV_F_user $f2bV_matches $f2bV_matches ",
      variables: [
        ["f2bV_matches", "a;b"],
        ["f2bV_F_user", "r$(id)"],
      ],
    });
  });

  it("builds the shell command as Utils.buildShellCmd (its docstring example)", () => {
    expect(
      buildShellCommand('echo "V2: $v2, V1: $v1"', [
        ["v1", "val 1"],
        ["v2", "val 2"],
        ["vUnused", "unused var"],
      ]),
    ).toEqual(['v1=$0 v2=$1 vUnused=$2 \necho "V2: $v2, V1: $v1"', "val 1", "val 2", "unused var"]);
    expect(buildShellCommand("plain", [])).toBe("plain");
  });

  it("braces positions from 10 on, which sh would read as $1 followed by a digit", () => {
    const variables = Array.from({ length: 12 }, (_, i) => [`v${i}`, `value ${i}`] as const);
    const [script] = buildShellCommand("true", variables) as [string, ...string[]];
    expect(script).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell positional parameters
      "v0=$0 v1=$1 v2=$2 v3=$3 v4=$4 v5=$5 v6=$6 v7=$7 v8=$8 v9=$9 v10=${10} v11=${11} \ntrue",
    );
  });

  it("escapes like CommandAction.escapeTag", () => {
    expect(escapeTag("a\\b#c&d;e`f|g*h?i~j<k>l^m(n)o[p]q{r}s$t'u\"v\nw\rx")).toBe(
      "a\\\\b\\#c\\&d\\;e\\`f\\|g\\*h\\?i\\~j\\<k\\>l\\^m\\(n\\)o\\[p\\]q\\{r\\}s\\$t\\'u\\\"v\\nw\\rx",
    );
  });
});
