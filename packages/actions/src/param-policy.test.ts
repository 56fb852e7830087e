// What a message may set: ticket values, the default options with their grammar, the operator's
// allow_params (per file or for all), and never an operation or a reserved name.
import { describe, expect, it } from "vitest";
import { ParamRefusedError } from "./errors.js";
import { DEFAULT_MESSAGE_OPTIONS, ParamPolicy } from "./param-policy.js";

const refusal = (policy: ParamPolicy, file: string, params: Record<string, string>) =>
  policy.refusal(file, params)?.message;

describe("ParamPolicy", () => {
  it("the default lets a message set the ticket and name, port, protocol, chain only", () => {
    expect(DEFAULT_MESSAGE_OPTIONS).toEqual(["name", "port", "protocol", "chain"]);
    const ok = {
      ip: "192.0.2.1",
      bantime: "600",
      failures: "3",
      matches: "$(id) `id`",
      "F-USER": "root; x",
      name: "nginx-http-auth",
      port: "http,https,8000:8100",
      protocol: "tcp",
      chain: "INPUT",
    };
    expect(refusal(ParamPolicy.DEFAULT, "iptables-multiport", ok)).toBeUndefined();
    for (const option of ["iptables", "returntype", "blocktype", "file", "daemon_list", "timeout", "type"]) {
      expect(refusal(ParamPolicy.DEFAULT, "iptables-multiport", { ip: "192.0.2.1", [option]: "x" })).toBe(
        `param "${option}" refused: not an option a message may set for iptables-multiport (default; allow it with allow_params = iptables-multiport:${option})`,
      );
    }
  });

  it.each([
    ["name", "-x"],
    ["name", "a/b"],
    ["name", "a b"],
    ["name", "a;b"],
    ["name", ""],
    ["port", "ssh http"],
    ["port", "-p"],
    ["port", "$(id)"],
    ["protocol", "TCP"],
    ["protocol", "tcp;x"],
    ["chain", "--flush"],
    ["chain", "IN PUT"],
    ["chain", "a/b"],
  ])("a default option's value outside its grammar is refused: %s=%j", (option, value) => {
    const message = refusal(ParamPolicy.DEFAULT, "x", { [option]: value });
    expect(message).toMatch(new RegExp(`^param "${option}" refused: expected `));
    expect(message).toContain(`got ${JSON.stringify(value)}`);
  });

  it("allow_params: for every file, or for one file", () => {
    const policy = ParamPolicy.of(
      [{ option: "blocktype" }, { file: "hostsdeny", option: "daemon_list" }],
      "allow_params of [global] and [web1]",
    );
    expect(refusal(policy, "iptables", { blocktype: "REJECT --reject-with tcp-reset" })).toBeUndefined();
    expect(refusal(policy, "hostsdeny", { daemon_list: "ALL" })).toBeUndefined();
    expect(refusal(policy, "iptables", { daemon_list: "ALL" })).toBe(
      'param "daemon_list" refused: not an option a message may set for iptables (allow_params of [global] and [web1]; allow it with allow_params = iptables:daemon_list)',
    );
    expect(policy.allows("hostsdeny", "daemon_list")).toBe(true);
    expect(policy.allows("x", "ip")).toBe(true);
    expect(policy.allows("x", "file")).toBe(false);
  });

  it("an operation or a reserved name is refused whatever is allowed", () => {
    const policy = ParamPolicy.of([{ option: "blocktype" }], "test");
    expect(refusal(policy, "x", { actionban: "id" })).toBe(
      'param "actionban" refused: a message may not replace a [Definition] operation or switch',
    );
    expect(refusal(policy, "x", { family: "inet6" })).toBe(
      'param "family" refused: computed from the ticket, cannot be set',
    );
    expect(() => ParamPolicy.of([{ option: "actionban" }], "test")).toThrow(TypeError);
    expect(() => ParamPolicy.of([{ option: "ip" }], "test")).toThrow(TypeError);
    expect(() => ParamPolicy.of([{ option: "Upper" }], "test")).toThrow(TypeError);
    expect(() => ParamPolicy.of([{ file: "../x", option: "a" }], "test")).toThrow(TypeError);
  });

  it("assertAllowed throws the refusal as a ParamRefusedError naming the param", () => {
    expect(() => ParamPolicy.DEFAULT.assertAllowed("iptables", { iptables: "eval" })).toThrow(
      ParamRefusedError,
    );
    try {
      ParamPolicy.DEFAULT.assertAllowed("iptables", { ip: "192.0.2.1", iptables: "eval" });
    } catch (error) {
      expect((error as ParamRefusedError).param).toBe("iptables");
    }
  });
});
