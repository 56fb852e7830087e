// The self-lockout guard (@net2ban/config) and the action engine (@net2ban/actions) must agree on what
// an `ip` is: a string the guard cannot parse but the engine bans, or one they read as different
// blocks, would be a way around ignoreip. Differential property test over address-like strings.
import { parseTicketAddress } from "@net2ban/actions";
import { parseAddressRange, rangesOverlap } from "@net2ban/config";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join("."));
const v6 = fc.ipV6();
const prefix = fc.oneof(
  fc.constant(""),
  fc.nat(140).map((n) => `/${n}`),
  fc.constantFrom("/", "/01", "/+8", "/8 "),
);
/** Near-addresses: real ones, mutated ones, and strings over the characters addresses are made of. */
const candidate = fc.oneof(
  fc.tuple(fc.oneof(v4, v6, fc.ipV4Extended()), prefix).map(([a, p]) => a + p),
  fc.tuple(v4, prefix).map(([a, p]) => `::ffff:${a}${p}`),
  fc
    .tuple(fc.oneof(v4, v6), fc.nat(), fc.constantFrom("", " ", ":", ".", "%eth0", "0", "x", "\n", "::"))
    .map(([a, at, insert]) => a.slice(0, at % (a.length + 1)) + insert + a.slice(at % (a.length + 1))),
  fc.stringMatching(/^[0-9a-fA-F:./%]{0,24}$/),
);

describe("guard and engine read an ip the same way", () => {
  it("accept the same strings, and see the same block", () => {
    fc.assert(
      fc.property(candidate, (ip) => {
        const engine = parseTicketAddress(ip);
        const guard = parseAddressRange(ip);
        expect(guard === undefined).toBe(engine === undefined);
        if (engine === undefined || guard === undefined) return;
        // What the engine bans, read back by the guard, lies inside the block the guard checked: the
        // same block, or (`/0`, which fail2ban's IPAddr shows as the bare network address) a smaller one.
        const banned = parseAddressRange(engine.text);
        expect(banned).toBeDefined();
        expect(banned!.prefix).toBeGreaterThanOrEqual(guard.prefix);
        expect(rangesOverlap(banned!, guard)).toBe(true);
        if (guard.prefix !== 0 && guard.prefix !== 96)
          expect(banned).toEqual({ ...guard, text: engine.text });
      }),
      { seed: 6062, numRuns: 20_000 },
    );
  });

  it.each(["::ffff:10.0.0.1", "10.1.2.3/8", "2001:DB8::1/64", "::ffff:1.2.3.4/120", "0.0.0.0/0", "::"])(
    "%s",
    (ip) => {
      const engine = parseTicketAddress(ip);
      expect(engine).toBeDefined();
      expect(parseAddressRange(engine!.text)?.network).toBe(parseAddressRange(ip)?.network);
    },
  );
});
