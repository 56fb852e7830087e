// Where a marked spot sits in a shell script.

import { describe, expect, it } from "vitest";
import { mark, markContexts } from "./shell-context.js";

const at = (script: string): unknown[] => markContexts(script.replaceAll("@", mark(0))).get(0) ?? [];

describe("markContexts", () => {
  it.each([
    ["echo @", "unquoted"],
    ["echo f2b-@-x", "unquoted"],
    ['echo "a @ b"', "double"],
    ['echo "$(echo @)"', "unquoted"],
    ['echo $(echo "x" @)', "unquoted"],
    ["echo 'a' @ 'b'", "unquoted"],
    ['echo "it\'s" @', "unquoted"],
    ["echo x # @", "comment"],
    ["echo x#@", "unquoted"],
  ])("%s -> %s", (script, context) => {
    expect(at(script)).toEqual([context]);
  });

  it.each([
    ["echo '@'", "inside single quotes"],
    ["echo \"$(echo '@')\"", "inside single quotes"],
    ["echo \\@", "preceded by a backslash"],
    ['echo "\\@"', "preceded by a backslash"],
    ["echo $@", "directly after a $"],
    ["echo `echo @`", "used inside backquotes"],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, not a template
    ["echo ${x:-@}", "inside a parameter expansion"],
    ["echo $((1 + @))", "inside an arithmetic expansion"],
    ["cat <<EOF\n@\nEOF", "after a here-document"],
    ["echo 'unterminated @", "inside an unterminated single quote"],
  ])("%s is refused (%s)", (script, reason) => {
    const [context] = at(script);
    expect(context).toEqual({ refused: expect.stringContaining(reason) });
  });

  it("reports every occurrence", () => {
    expect(at("a @ \"@\" '@'")).toEqual(["unquoted", "double", { refused: "inside single quotes" }]);
  });
});
