// The self-lockout guard: address parsing, overlap in both directions, the refusal lines, ignoreip in
// net2ban.cfg and the defaults (loopback, broker, this host).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Allowlist,
  assertBanAllowed,
  BanRefusedError,
  brokerHosts,
  checkBan,
  LOOPBACK,
  LocalAddressesError,
  localInterfaceAddresses,
  parseAddress,
  parseAddressRange,
  protectedAddresses,
  rangesOverlap,
  splitIgnoreIp,
} from "./allowlist.js";
import { ConfigError } from "./errors.js";
import { allowlistFor, parseConfig } from "./resolve.js";

const range = (text: string) => {
  const parsed = parseAddressRange(text);
  if (parsed === undefined) throw new Error(`test setup: ${text} does not parse`);
  return parsed;
};

describe("parseAddressRange", () => {
  it("holds IPv4 in the IPv4-mapped block, so both spellings are one address", () => {
    expect(range("10.0.0.1").network).toBe(range("::ffff:10.0.0.1").network);
    expect(range("10.0.0.1").prefix).toBe(128);
    expect(range("10.0.0.0/8").prefix).toBe(104);
  });

  it("clears host bits of a CIDR and keeps the text as written", () => {
    const block = range("10.1.2.3/8");
    expect(block.network).toBe(range("10.0.0.0/8").network);
    expect(block.text).toBe("10.1.2.3/8");
    expect(range("2001:db8::1/32").network).toBe(range("2001:db8::/32").network);
  });

  it.each([
    "",
    "localhost",
    "10.0.0.1/33",
    "::1/129",
    "10.0.0.0/08",
    "10.0.0.0/",
    "10.0.0.0/255.0.0.0",
    "010.0.0.1",
    "1.2.3",
    "fe80::1%eth0",
    "[::1]",
    " 10.0.0.1",
    "10.0.0.1 ",
    "1::2::3",
    "10.0.0.1/8/8",
    "10.0.0.1;",
  ])("refuses %j", (text) => {
    expect(parseAddressRange(text)).toBeUndefined();
    expect(parseAddress(text)).toBeUndefined();
  });

  it("names the argument on a wrong call", () => {
    expect(() => parseAddressRange(42 as unknown as string)).toThrow('"value" expected a string, got number');
    expect(() => parseAddress(42 as unknown as string)).toThrow('"value" expected a string, got number');
  });
});

describe("parseAddress (the grammar the action engine shares)", () => {
  it("keeps the family, the host bits and whether a prefix was written", () => {
    expect(parseAddress("10.1.2.3/8")).toEqual({ version: 4, address: 0x0a010203n, prefix: 8 });
    expect(parseAddress("10.1.2.3")).toEqual({ version: 4, address: 0x0a010203n, prefix: undefined });
    expect(parseAddress("10.1.2.3/32")).toEqual({ version: 4, address: 0x0a010203n, prefix: 32 });
    expect(parseAddress("::ffff:10.1.2.3")).toEqual({
      version: 6,
      address: 0xffff0a010203n,
      prefix: undefined,
    });
    expect(parseAddress("2001:DB8::1/0")).toEqual({
      version: 6,
      address: 0x20010db8000000000000000000000001n,
      prefix: 0,
    });
    expect(parseAddress("1:2:3:4:5:6:7:8")?.address).toBe(0x00010002000300040005000600070008n);
    expect(parseAddress("::")?.address).toBe(0n);
  });
});

describe("overlap", () => {
  it("finds an address inside a block and a block that contains an entry", () => {
    const list = Allowlist.of("[global]", ["10.0.0.0/8", "2001:db8::5"]);
    expect(list.find(range("10.200.3.4"))?.range.text).toBe("10.0.0.0/8");
    expect(list.find(range("0.0.0.0/0"))?.range.text).toBe("10.0.0.0/8");
    expect(list.find(range("2001:db8::/64"))?.range.text).toBe("2001:db8::5");
    expect(list.find(range("::ffff:10.9.9.9"))?.range.text).toBe("10.0.0.0/8");
    expect(list.find(range("11.0.0.0/8"))).toBeUndefined();
    expect(list.find(range("2001:db8::6"))).toBeUndefined();
    // IPv4 and IPv6 outside the mapped block never meet
    expect(list.find(range("::a00:1"))).toBeUndefined();
  });

  it("agrees with plain integer arithmetic on random IPv4 blocks (property)", () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
    const text = ([a, b, c, d]: [number, number, number, number]) => `${a}.${b}.${c}.${d}`;
    const int = ([a, b, c, d]: [number, number, number, number]) =>
      ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
    fc.assert(
      fc.property(v4, fc.integer({ min: 0, max: 32 }), v4, fc.integer({ min: 0, max: 32 }), (a, p, b, q) => {
        const shift = 32 - Math.min(p, q);
        const expected = shift === 32 ? true : int(a) >>> shift === int(b) >>> shift;
        expect(rangesOverlap(range(`${text(a)}/${p}`), range(`${text(b)}/${q}`))).toBe(expected);
      }),
      { seed: 6061, numRuns: 2000 },
    );
  });
});

describe("checkBan", () => {
  const list = Allowlist.of("[global]", ["10.0.0.0/8"]).concat(Allowlist.of("default: loopback", LOOPBACK));

  it("refuses a ban inside an allowlisted block, with the line net2banctl prints", () => {
    expect(checkBan(list, { action: "actionban", params: { ip: "10.0.0.1" } })?.message).toBe(
      "ban 10.0.0.1 refused: 10.0.0.0/8 is in ignoreip ([global])",
    );
  });

  it("refuses a CIDR ban that contains an allowlisted address", () => {
    expect(checkBan(list, { action: "actionban", params: { ip: "0.0.0.0/0" } })?.message).toBe(
      "ban 0.0.0.0/0 refused: 10.0.0.0/8 is in ignoreip ([global])",
    );
    expect(checkBan(list, { action: "actionban", params: { ip: "::/0" } })?.message).toBe(
      "ban ::/0 refused: 10.0.0.0/8 is in ignoreip ([global])",
    );
  });

  it("refuses other operations that take the address (prolong, reban) and names them", () => {
    expect(checkBan(list, { action: "actionprolong", params: { ip: "::1" } })?.message).toBe(
      "actionprolong ::1 refused: ::1 is in ignoreip (default: loopback)",
    );
  });

  it("always lets an unban through, and a request without ip", () => {
    expect(checkBan(list, { action: "actionunban", params: { ip: "10.0.0.1" } })).toBeUndefined();
    expect(checkBan(list, { action: "actionstart", params: { name: "sshd" } })).toBeUndefined();
    expect(checkBan(list, { action: "actionban", params: { ip: "192.0.2.9" } })).toBeUndefined();
  });

  it("refuses an ip that is not an address for every operation, since nothing could check it", () => {
    for (const action of ["actionban", "actionunban"]) {
      const refusal = checkBan(list, { action, params: { ip: "10.0.0.1; reboot" } });
      expect(refusal?.message).toMatch(/refused: not an IPv4\/IPv6 address or CIDR$/);
      expect(refusal?.entry).toBeUndefined();
    }
  });

  it("assertBanAllowed throws BanRefusedError carrying the refusal", () => {
    const error = (() => {
      try {
        assertBanAllowed(list, { action: "actionban", params: { ip: "127.0.0.53" } });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(BanRefusedError);
    expect((error as BanRefusedError).name).toBe("BanRefusedError");
    expect((error as BanRefusedError).refusal.entry?.range.text).toBe("127.0.0.0/8");
  });

  it("Allowlist.of names a bad value", () => {
    expect(() => Allowlist.of("[x]", ["10.0.0.1", "example.org"])).toThrow(
      '"values[1]" expected an IPv4/IPv6 address or CIDR, got "example.org"',
    );
  });
});

describe("ignoreip in net2ban.cfg", () => {
  const BASE = `[global]
server = 10.0.0.1
rounds = 1000
secret = s
mode = client
authkey = a
ignoreip = 10.0.0.0/8, 2001:db8::/32
`;

  it("reads [global], [server] and client lists; a client's list adds to [global]'s", () => {
    const { config, warnings } = parseConfig(
      `${BASE}\n[server]\nkey = k\nignoreip = 192.0.2.1\n\n[web1]\nkey = k1\nignoreip = 198.51.100.0/24 203.0.113.7\n\n[web2]\nkey = k2\n`,
      "net2ban.cfg",
    );
    expect(warnings).toEqual([]);
    expect(config.ignoreIp).toEqual({
      global: ["10.0.0.0/8", "2001:db8::/32"],
      server: ["192.0.2.1"],
      web1: ["198.51.100.0/24", "203.0.113.7"],
    });
    const web1 = allowlistFor(config, "web1");
    expect(web1.entries.map((e) => `${e.range.text} ${e.source}`)).toEqual([
      "10.0.0.0/8 [global]",
      "2001:db8::/32 [global]",
      "198.51.100.0/24 [web1]",
      "203.0.113.7 [web1]",
    ]);
    expect(allowlistFor(config, "web2").entries).toHaveLength(2);
    expect(allowlistFor(config, "server").find(range("192.0.2.1"))?.source).toBe("[server]");
  });

  it("rejects a host name or a netmask with the file, section and value", () => {
    let error: unknown;
    try {
      parseConfig(`${BASE}\n[web1]\nkey = k1\nignoreip = 10.0.0.0/255.0.0.0 gw.example.net\n`, "net2ban.cfg");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).errors).toEqual([
      'net2ban.cfg: [web1] ignoreip: expected IPv4/IPv6 addresses or CIDRs separated by spaces or commas, got "10.0.0.0/255.0.0.0" (host names and netmasks are not accepted)',
    ]);
  });

  it("is ignored with a warning in [keygen]", () => {
    const { warnings } = parseConfig(`${BASE}\n[keygen]\nignoreip = 10.0.0.1\n`, "net2ban.cfg");
    expect(warnings).toEqual([
      "net2ban.cfg: [keygen] ignoreip: only read in [global], [server] and client sections, ignored",
    ]);
  });

  it("splits on spaces, commas and newlines (continuation lines)", () => {
    expect(splitIgnoreIp(" 10.0.0.1,10.0.0.2\n  ::1 ,, ")).toEqual(["10.0.0.1", "10.0.0.2", "::1"]);
  });
});

describe("protectedAddresses", () => {
  it("protects loopback, literal broker addresses, resolved broker names and this host", async () => {
    const warnings: string[] = [];
    const list = await protectedAddresses({
      brokerUrls: [
        "amqp://u:p@192.0.2.50:5672/",
        "amqps://mq.example.net/",
        "amqp://[2001:db8::50]/",
        "amqp://gone.invalid/",
      ],
      localAddresses: () => ["198.51.100.2", "fe80::1"],
      resolveHost: async (host) => {
        if (host === "mq.example.net") return ["203.0.113.80", "2001:db8::80"];
        throw new Error("ENOTFOUND");
      },
      onWarning: (line) => warnings.push(line),
    });
    expect(list.entries.map((e) => `${e.range.text} ${e.source}`)).toEqual([
      "127.0.0.0/8 default: loopback",
      "::1 default: loopback",
      "192.0.2.50 default: broker 192.0.2.50",
      "203.0.113.80 default: broker mq.example.net",
      "2001:db8::80 default: broker mq.example.net",
      "2001:db8::50 default: broker 2001:db8::50",
      "198.51.100.2 default: this host",
      "fe80::1 default: this host",
    ]);
    expect(warnings).toEqual([
      "broker host gone.invalid could not be resolved (ENOTFOUND); its addresses are not protected from bans",
    ]);
  });

  it("with resolveHost and localAddresses off, protects loopback and literal broker addresses only", async () => {
    const list = await protectedAddresses({
      brokerUrls: ["amqp://mq.example.net/", "amqp://192.0.2.50/"],
      localAddresses: false,
      resolveHost: false,
    });
    expect(list.entries.map((e) => e.range.text)).toEqual(["127.0.0.0/8", "::1", "192.0.2.50"]);
  });

  it("finds this host's real addresses, loopback included", () => {
    const addresses = localInterfaceAddresses();
    expect(addresses).toContain("127.0.0.1");
    for (const address of addresses) expect(parseAddressRange(address)).toBeDefined();
  });

  it("says in one line that a sandbox forbids netlink, instead of libuv's 'Unknown system error 97'", () => {
    // What os.networkInterfaces() throws under RestrictAddressFamilies= without AF_NETLINK.
    const forbidden = Object.assign(new Error("uv_interface_addresses returned Unknown system error 97"), {
      info: { errno: 97, code: "Unknown system error 97", syscall: "uv_interface_addresses" },
    });
    const read = () =>
      localInterfaceAddresses(() => {
        throw forbidden;
      });
    expect(read).toThrow(LocalAddressesError);
    expect(read).toThrow(
      new LocalAddressesError(
        "cannot read this host's own addresses, which no ban may cover: opening a netlink socket failed " +
          "with EAFNOSUPPORT; under systemd, RestrictAddressFamilies= must include AF_NETLINK",
      ),
    );
    // Anything else is not a sandbox's doing: passed on as it came.
    const other = Object.assign(new Error("out of memory"), { info: { errno: 12 } });
    expect(() =>
      localInterfaceAddresses(() => {
        throw other;
      }),
    ).toThrow(other);
  });

  it("takes broker hosts from URLs, unbracketed and once each", () => {
    expect(brokerHosts(["amqp://a/", "amqps://u:p@[::1]:5671/v", "amqp://a:5673/", "not a url"])).toEqual([
      "a",
      "::1",
    ]);
  });
});
