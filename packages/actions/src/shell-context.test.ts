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

describe("markContexts: positions a value may not take", () => {
  it.each([
    ["@ -C f2b-x", "as the command to run"],
    ['"@" -C f2b-x', "as the command to run"],
    ["'@' -C f2b-x", "as the command to run"],
    ["x@y -C f2b-x", "as the command to run"],
    ["echo a; @ b", "as the command to run"],
    ["echo a && @ b", "as the command to run"],
    ["echo a | @ b", "as the command to run"],
    ["echo a\n@ b", "as the command to run"],
    ["{ @ b; }", "as the command to run"],
    ["if true; then @ b; fi", "as the command to run"],
    ["X=1 @ b", "as the command to run"],
    ["echo $(@ b)", "as the command to run"],
    ['echo "$(@ b)"', "as the command to run"],
    ["(@ b)", "as the command to run"],
    ["echo x > @", "as the target of a redirection"],
    ["echo x >> /var/@.log", "as the target of a redirection"],
    ["echo x >>'@'", "as the target of a redirection"],
    ["sort < @", "as the target of a redirection"],
    ["echo x >|@", "as the target of a redirection"],
    ["echo x 2>&1 >@", "as the target of a redirection"],
  ])("%j is refused (%s)", (script, reason) => {
    const [context] = at(script);
    expect(context).toEqual({
      refused: expect.stringContaining(reason),
      position: reason.startsWith("as the command") ? "command" : "redirect",
      prefix: expect.any(String),
    });
  });

  it.each([
    ["iptables -I f2b-@ 1 -s x -j DROP", "unquoted"],
    ["PROTOCOL=@", "unquoted"],
    ["PROTOCOL=@; echo $PROTOCOL", "unquoted"],
    ["echo x >/dev/null 2>&1 @", "unquoted"],
    ["{ iptables -C @ >/dev/null 2>&1; } || { iptables -N @; }", "unquoted"],
    ['echo "$(printf x) @"', "double"],
    ["echo $(printf x) @", "unquoted"],
    ["for x in @; do echo $x; done", "unquoted"],
    ["if [ -z @ ]; then echo; fi", "unquoted"],
  ])("%j is data (%s)", (script, context) => {
    expect(new Set(at(script))).toEqual(new Set([context]));
  });
});
