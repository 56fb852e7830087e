// Where message options land in fail2ban 1.0.2's own action files (/etc/fail2ban/action.d): the default
// options are data in every stock action, and an option that names a program or a file written is refused
// even where the operator's policy would let a message set it.

import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { assertFail2banInstalled, STOCK_ACTIONS_DIR } from "../test/reference.js";
import { ParamRefusedError } from "./errors.js";
import { loadAction } from "./load.js";
import { assertOptionsAsData } from "./positions.js";

const hostname = { fq: "host.example.com", short: "host" };
const defaults = { name: "sshd", port: "ssh", protocol: "tcp", chain: "INPUT" };

function stockActions(): string[] {
  assertFail2banInstalled();
  return readdirSync(STOCK_ACTIONS_DIR)
    .filter((file) => file.endsWith(".conf"))
    .map((file) => file.slice(0, -".conf".length))
    .filter((name) => loadAction(STOCK_ACTIONS_DIR, name).config.sections.has("Definition"));
}

function refusal(action: string, params: Record<string, string>): ParamRefusedError | undefined {
  try {
    assertOptionsAsData(loadAction(STOCK_ACTIONS_DIR, action), params, hostname);
    return undefined;
  } catch (error) {
    if (error instanceof ParamRefusedError) return error;
    throw error;
  }
}

describe("message options in the stock action files", () => {
  it("name, port, protocol and chain are data in every stock action", () => {
    const actions = stockActions();
    expect(actions.length).toBeGreaterThan(50);
    const refused = actions.flatMap((action) => {
      const error = refusal(action, { ip: "192.0.2.1", ...defaults });
      return error === undefined ? [] : [`${action}: ${error.message}`];
    });
    expect(refused).toEqual([]);
  });

  it.each([
    ["iptables-multiport", "iptables", "as the command to run"],
    ["iptables", "iptables", "as the command to run"],
    ["nftables-multiport", "nftables", "as the command to run"],
    ["hostsdeny", "file", "as the target of a redirection"],
    ["pf", "pfctl", "as the command to run"],
    ["dummy", "target", "as the target of a redirection"],
    ["iptables-xt_recent-echo", "iptname", "as the target of a redirection"],
  ])("%s: %s is refused %s", (action, option, where) => {
    const error = refusal(action, { ip: "192.0.2.1", ...defaults, [option]: "x" });
    expect(error?.param).toBe(option);
    expect(error?.reason).toContain(where);
  });

  it.each([
    ["iptables-multiport", "blocktype"],
    ["iptables-multiport", "returntype"],
    ["nftables-multiport", "blocktype"],
    ["hostsdeny", "daemon_list"],
  ])("%s: %s is an argument (a policy decides whether a message may set it)", (action, option) => {
    expect(refusal(action, { ip: "192.0.2.1", ...defaults, [option]: "x" })).toBeUndefined();
  });
});
