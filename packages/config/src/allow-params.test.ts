// `allow_params`: which action options messages may set, per section; parsed into entries, lists
// adding up ([global] + the section), one-line errors naming the key and the bad entry, exported to
// the client that reads it.
import { describe, expect, it } from "vitest";
import { exportClientConfig } from "./export.js";
import { allowParamsFor, describeAllowParams, parseConfig } from "./resolve.js";

const config = (global: string, server = "", web1 = "") => `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = s
authkey = a
mode = server
${global}

[server]
key = ks
${server}

[web1]
key = k1
${web1}

[web2]
key = k2
`;

describe("allow_params", () => {
  it("reads options and file:option entries; a section adds to [global]'s", () => {
    const { config: parsed } = parseConfig(
      config(
        "allow_params = blocktype, iptables-multiport:returntype",
        "allow_params = hostsdeny:daemon_list",
        "allow_params = nftables:type  iptables:chain.x",
      ),
      "n.cfg",
    );
    expect(allowParamsFor(parsed, "server")).toEqual([
      { option: "blocktype" },
      { file: "iptables-multiport", option: "returntype" },
      { file: "hostsdeny", option: "daemon_list" },
    ]);
    expect(allowParamsFor(parsed, "web1")).toEqual([
      { option: "blocktype" },
      { file: "iptables-multiport", option: "returntype" },
      { file: "nftables", option: "type" },
      { file: "iptables", option: "chain.x" },
    ]);
    expect(allowParamsFor(parsed, "web2")).toEqual([
      { option: "blocktype" },
      { file: "iptables-multiport", option: "returntype" },
    ]);
    expect(describeAllowParams("web1")).toBe("allow_params of [global] and [web1]");
  });

  it("none set: nothing beyond the defaults", () => {
    const { config: parsed } = parseConfig(config(""), "n.cfg");
    expect(allowParamsFor(parsed, "server")).toEqual([]);
  });

  it.each([
    [
      "actionban",
      'n.cfg: [global] allow_params: "actionban" is an operation of the action file: a message may never set it',
    ],
    [
      "x:norestored",
      'n.cfg: [global] allow_params: "norestored" is an operation of the action file: a message may never set it',
    ],
    [
      "Blocktype",
      'n.cfg: [global] allow_params: expected lower-case option names (or file:option) separated by commas, got "Blocktype"',
    ],
    ["../x:a", 'n.cfg: [global] allow_params: expected an action file name before ":", got "../x:a"'],
    [
      "a:b:c",
      'n.cfg: [global] allow_params: expected lower-case option names (or file:option) separated by commas, got "a:b:c"',
    ],
  ])("%j is a config error naming the key", (value, message) => {
    expect(() => parseConfig(config(`allow_params = ${value}`), "n.cfg")).toThrow(message);
  });

  it("a client's export carries [global]'s and its own list", () => {
    const { config: parsed } = parseConfig(
      config("allow_params = blocktype", "allow_params = x", "allow_params = hostsdeny:daemon_list"),
      "n.cfg",
    );
    const exported = parseConfig(exportClientConfig(parsed, "web1"), "web1.cfg").config;
    expect(allowParamsFor(exported, "web1")).toEqual([
      { option: "blocktype" },
      { file: "hostsdeny", option: "daemon_list" },
    ]);
  });
});
