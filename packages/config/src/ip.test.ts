// ipFamily against node:net isIP: the same answer for every text without a zone id.
import { isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipFamily } from "./ip.js";

const nodeFamily = (text: string) => (text.includes("%") ? 0 : isIP(text));

describe("ipFamily", () => {
  it.each([
    ["203.0.113.9", 4],
    ["0.0.0.0", 4],
    ["255.255.255.255", 4],
    ["256.1.1.1", 0],
    ["01.2.3.4", 0],
    ["1.2.3", 0],
    ["1.2.3.4.", 0],
    ["::", 6],
    ["::1", 6],
    ["fe80::1", 6],
    ["2001:db8::", 6],
    ["1:2:3:4:5:6:7:8", 6],
    ["1:2:3:4:5:6:7::", 6],
    ["::2:3:4:5:6:7:8", 6],
    ["1::2:3:4:5:6:7:8", 0],
    ["1:2:3:4:5:6:7", 0],
    ["::ffff:192.0.2.1", 6],
    ["1:2:3:4:5:6:192.0.2.1", 6],
    ["1:2:3:4:5:6:7:192.0.2.1", 0],
    ["192.0.2.1::", 0],
    ["::192.0.2.1:1", 0],
    ["1:::2", 0],
    ["1::2::3", 0],
    ["12345::", 0],
    ["fe80::1%eth0", 0],
    ["", 0],
    [":", 0],
    [":1:2:3:4:5:6:7", 0],
  ] as const)("%s -> %i", (text, family) => {
    expect(ipFamily(text)).toBe(family);
    expect(nodeFamily(text)).toBe(family);
  });

  const hex = fc.constantFrom(..."0123456789abcdefABCDEF");
  const alphabet = fc.constantFrom(..."0123456789abcdefABCDEF:.:.:");
  const fromAlphabet = fc.array(alphabet, { maxLength: 46 }).map((chars) => chars.join(""));
  const group = fc.array(hex, { minLength: 0, maxLength: 5 }).map((chars) => chars.join(""));
  const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom("00", "01", "010"));
  const v4 = fc.array(octet, { minLength: 3, maxLength: 5 }).map((o) => o.join("."));
  const colons = fc.array(fc.oneof(group, group, v4, fc.constant("")), { minLength: 1, maxLength: 10 });
  const shaped = colons.map((parts) => parts.join(":"));

  it("agrees with node:net isIP on addresses, near-addresses and noise", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fromAlphabet, shaped, v4), (text) => {
        expect(ipFamily(text), JSON.stringify(text)).toBe(nodeFamily(text));
      }),
      { numRuns: 20_000 },
    );
  });
});
