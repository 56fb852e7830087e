// Message params: ticket vs caller options, and every refusal names the param.

import { describe, expect, it } from "vitest";
import { ParamRefusedError } from "./errors.js";
import { classifyParams, TICKET_KEYS, validateParams } from "./params.js";

function refusal(params: Record<string, string>): ParamRefusedError {
  try {
    validateParams(params);
  } catch (error) {
    if (error instanceof ParamRefusedError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(params)}`);
}

describe("classifyParams", () => {
  it("puts ticket keys and F-<NAME> captures in ticket, the rest in options", () => {
    const params = {
      ip: "192.0.2.1",
      matches: "m",
      "F-USER": "u",
      "ip-host": "h",
      "jail.found": "1",
      name: "sshd",
      port: "22",
    };
    expect(classifyParams(params)).toEqual({
      ticket: { ip: "192.0.2.1", matches: "m", "F-USER": "u", "ip-host": "h", "jail.found": "1" },
      options: { name: "sshd", port: "22" },
    });
  });

  it("lists fail2ban's ticket keys", () => {
    expect(TICKET_KEYS).toContain("ipjailmatches");
    expect(TICKET_KEYS).not.toContain("name");
    expect(() => classifyParams({ ip: 1 as unknown as string })).toThrow(/params.ip/);
  });
});

describe("validateParams", () => {
  it("accepts addresses and CIDRs, normalised as fail2ban shows them", () => {
    expect(validateParams({ ip: "2001:DB8:0:0::7" }).address).toEqual({
      text: "2001:db8::7",
      family: "inet6",
      reverse: "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.",
    });
    expect(validateParams({ ip: "192.0.2.77/24" }).address?.text).toBe("192.0.2.0/24");
  });

  it.each([
    [{ ip: "192.0.2.1; rm" }, "ip"],
    [{ ip: "example.com" }, "ip"],
    [{ ip: "192.0.2.1/33" }, "ip"],
    [{ ip: "fe80::1%eth0" }, "ip"],
    [{ "bad name": "x" }, "bad name"],
    [{ _hidden: "x" }, "_hidden"],
    [{ port: "a\0b" }, "port"],
    [{ failures: "5;" }, "failures"],
    [{ bantime: "0600" }, "bantime"],
    [{ time: "soon" }, "time"],
    [{ "F-user": "x" }, "F-user"],
    [{ "F-ID": "1", "F-FID": "2" }, "F-FID"],
    [{ actionban: "rm -rf /" }, "actionban"],
    [{ actionstart_on_demand: "false" }, "actionstart_on_demand"],
    [{ norestored: "0" }, "norestored"],
    [{ family: "inet6" }, "family"],
    [{ "ip-rev": "x" }, "ip-rev"],
    [{ stop: "{}" }, "stop"],
    [{ Port: "22" }, "Port"],
  ])("refuses %j naming %s", (params, name) => {
    expect(refusal(params).param).toBe(name);
  });

  it("accepts negative bantime, fractional time and any ticket text", () => {
    expect(() =>
      validateParams({ bantime: "-1", time: "1700000000.25", matches: "$(x)\n`y`" }),
    ).not.toThrow();
  });

  it("refuses net2ban's own action keys (set backend, probe) as caller options", () => {
    for (const name of ["actionset_batch", "actionset_target", "actionset_type", "actionprobe"]) {
      expect(refusal({ ip: "192.0.2.1", [name]: "x" }).param).toBe(name);
    }
  });
});
