// The yargs-free parser of exec/ban/unban: what it takes, and everything it leaves to yargs.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseFastCommand } from "./fast-path.js";

describe("parseFastCommand takes", () => {
  it("exec with params, options before and after the command", () => {
    expect(
      parseFastCommand(["--config", "/etc/n.cfg", "exec", "iptables", "actionban", "ip=1.2.3.4", "name=ssh"]),
    ).toEqual({
      command: "exec",
      common: { config: "/etc/n.cfg" },
      to: undefined,
      file: "iptables",
      action: "actionban",
      params: ["ip=1.2.3.4", "name=ssh"],
    });
    expect(parseFastCommand(["exec", "f", "actionban", "--json", "--to=web1,web2", "--config=/c"])).toEqual({
      command: "exec",
      common: { config: "/c", json: true },
      to: ["web1,web2"],
      file: "f",
      action: "actionban",
      params: [],
    });
  });

  it("ban and unban with their defaults and options", () => {
    expect(parseFastCommand(["ban", "203.0.113.9"])).toEqual({
      command: "ban",
      common: {},
      to: undefined,
      ip: "203.0.113.9",
      actionFile: "iptables-multiport",
      name: "default",
      params: [],
    });
    expect(
      parseFastCommand([
        "unban",
        "2001:db8::/64",
        "port=22",
        "--action",
        "nftables",
        "--name=sshd",
        "--to",
        "a",
      ]),
    ).toEqual({
      command: "unban",
      common: {},
      to: ["a"],
      ip: "2001:db8::/64",
      actionFile: "nftables",
      name: "sshd",
      params: ["port=22"],
    });
  });

  it("--to repeated, each with one value", () => {
    expect(parseFastCommand(["ban", "192.0.2.1", "--to", "a", "--to", "b"])?.to).toEqual(["a", "b"]);
  });

  it("--to takes one word: the address after it stays the address", () => {
    expect(parseFastCommand(["ban", "--to", "web1", "203.0.113.9"])).toMatchObject({
      to: ["web1"],
      ip: "203.0.113.9",
      params: [],
    });
    expect(parseFastCommand(["ban", "1.2.3.4", "--to", "a", "b=1"])).toMatchObject({
      to: ["a"],
      ip: "1.2.3.4",
      params: ["b=1"],
    });
  });

  it("-c for --config, before or after the command", () => {
    expect(parseFastCommand(["-c", "/etc/n.cfg", "ban", "192.0.2.1"])?.common).toEqual({
      config: "/etc/n.cfg",
    });
    expect(parseFastCommand(["exec", "f", "actionban", "-c", "/c"])?.common).toEqual({ config: "/c" });
  });
});

describe("parseFastCommand leaves to yargs", () => {
  const declined: string[][] = [
    [],
    ["--help"],
    ["exec", "--help"],
    ["-h"],
    ["gen_random"],
    ["list_clients"],
    ["exec", "f"],
    ["ban"],
    ["ban", "10"],
    ["exec", "123", "actionban"],
    ["-c", "a", "--config", "b", "ban", "1.2.3.4"],
    ["-c=/c", "ban", "1.2.3.4"],
    ["-cj", "ban", "1.2.3.4"],
    ["ban", "1.2.3.4", "--to"],
    ["--config", "a", "--config", "b", "ban", "1.2.3.4"],
    ["ban", "1.2.3.4", "--json", "true"],
    ["ban", "1.2.3.4", "--json", "--json"],
    ["ban", "1.2.3.4", "--json=false"],
    ["ban", "1.2.3.4", "--"],
    ["ban", "1.2.3.4", "--no-json"],
    ["ban", "1.2.3.4", "--unknown", "x"],
    ["--action", "x", "ban", "1.2.3.4"],
    ["--to", "a", "ban", "1.2.3.4"],
    ["exec", "f", "actionban", "--action", "x"],
    ["exec", "f", "actionban", "--name", "x"],
    ["ban", "1.2.3.4", "--name", "a", "--name", "b"],
    ["ban", "1.2.3.4", "--name", "-x"],
    ["ban", "1.2.3.4", "--name="],
    ["ban", ""],
    ["exec", "f", "actionban", "ip=1", "-v"],
    ["ban", "1.2.3.4", "--config", "12"],
    // A command word that names an Object.prototype member (found by the property below).
    ["toString", "--name"],
    ["constructor", "--to", "x"],
  ];
  it.each(declined.map((argv) => [argv.join(" ") || "(nothing)", argv]))("%s", (_label, argv) => {
    expect(parseFastCommand(argv as string[])).toBeUndefined();
  });

  it("never throws, whatever the words", () => {
    const word = fc.oneof(
      fc.constantFrom(
        "exec",
        "ban",
        "unban",
        "--to",
        "--config",
        "-c",
        "--json",
        "--name",
        "--action",
        "-h",
        "--",
        "true",
        "7",
      ),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(word, { maxLength: 8 }), (argv) => {
        const parsed = parseFastCommand(argv);
        if (parsed !== undefined) {
          // Whatever it takes, every value it returns came from argv as a whole word (or a --x=value).
          expect(["exec", "ban", "unban"]).toContain(parsed.command);
          for (const param of parsed.params) expect(argv).toContain(param);
        }
      }),
    );
  });
});
