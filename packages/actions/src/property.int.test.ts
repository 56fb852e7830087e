// Property test against fail2ban itself: for random caller options without shell specials and random
// ticket values (anything but NUL), our rendering equals fail2ban's. Seeded and bounded; one Python
// process renders the whole batch.

import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  assertFail2banInstalled,
  type ReferenceAnswer,
  type ReferenceRequest,
  referenceRender,
  STOCK_ACTIONS_DIR,
} from "../test/reference.js";
import { loadAction } from "./load.js";
import { OPERATIONS, type Operation, renderOperation } from "./render.js";

const FIXTURES = fileURLToPath(new URL("../test/fixtures/action.d", import.meta.url));
const STOCK = [
  "iptables",
  "iptables-multiport",
  "iptables-ipset",
  "nftables",
  "firewallcmd-ipset",
  "sendmail-whois-matches",
  "mail-whois-lines",
  "abuseipdb",
  "xarf-login-attack",
  "dummy",
  "pf",
  "ufw",
  "cloudflare",
  "dshield",
  "nginx-block-map",
  "hostsdeny",
];
const FIXTURE_ACTIONS = ["incl-main", "interp", "tags", "cond", "ondemand-off", "families", "escaped-init"];
const OPTION_NAMES = [
  "port",
  "protocol",
  "chain",
  "blocktype",
  "dest",
  "sender",
  "logpath",
  "lockingopt",
  "table",
  "extra",
  "which",
  "grepmax",
  "mailcmd",
  "apprise",
  "abuseipdb_apikey",
  "x.y",
  "o-p",
];

// every character fail2ban (and we) treat as a shell special, plus NUL
const SPECIAL = new Set([
  "\\",
  "#",
  "&",
  ";",
  "`",
  "|",
  "*",
  "?",
  "~",
  "<",
  ">",
  "^",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  "$",
  "'",
  '"',
  "\n",
  "\r",
  "\0",
]);
const anyChar = fc.oneof(
  fc.constantFrom(..."abcXYZ019 .,:/=+-_%@!\t".split("")),
  fc.constantFrom(..."\\#&;`|*?~<>^()[]{}$'\"\n\r".split("")),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);
const ticketText = fc.array(anyChar, { maxLength: 24 }).map((chars) => chars.join("").replaceAll("\0", ""));
const safeText = fc
  .array(anyChar, { maxLength: 16 })
  .map((chars) => chars.filter((c) => !SPECIAL.has(c)).join(""));
const integer = fc.integer({ min: 0, max: 1_000_000 }).map(String);
const ipv4 = fc.ipV4();
const ip = fc.oneof(
  ipv4,
  fc.ipV6(),
  fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`),
);

const request = fc.record({
  action: fc.oneof(
    fc.constantFrom(...STOCK).map((action) => ({ dir: STOCK_ACTIONS_DIR, action })),
    fc.constantFrom(...FIXTURE_ACTIONS).map((action) => ({ dir: FIXTURES, action })),
  ),
  operation: fc.constantFrom(...OPERATIONS),
  name: fc.option(
    safeText.filter((s) => s !== ""),
    { nil: undefined },
  ),
  options: fc.dictionary(fc.constantFrom(...OPTION_NAMES), safeText, { maxKeys: 4 }),
  ip: fc.option(ip, { nil: undefined, freq: 5 }),
  ticket: fc.record(
    {
      matches: ticketText,
      ipmatches: ticketText,
      failures: integer,
      bantime: integer,
      time: integer,
      restored: fc.constantFrom("0", "1"),
      "ip-host": ticketText,
      "F-USER": ticketText,
      "F-ID": ticketText,
    },
    { requiredKeys: [] },
  ),
});

describe("random values against fail2ban", () => {
  beforeAll(() => assertFail2banInstalled());

  it("renders like fail2ban for 300 random requests (safe caller options, arbitrary ticket values)", () => {
    const samples = fc.sample(request, { seed: 20231114, numRuns: 300 });
    const hostname = { fq: "host.example.com", short: "host" };
    const requests: ReferenceRequest[] = samples.map((s) => ({
      dir: s.action.dir,
      action: s.action.action,
      operation: s.operation,
      params: {
        ...s.options,
        ...(s.name === undefined ? {} : { name: s.name }),
        ...s.ticket,
        ...(s.ip === undefined ? {} : { ip: s.ip }),
      },
      hostname,
      now: 1700000000.75,
    }));
    const reference = referenceRender(requests);
    const differences: string[] = [];
    let rendered = 0;
    requests.forEach((r, i) => {
      let mine: ReferenceAnswer;
      try {
        mine = {
          expect: renderOperation(loadAction(r.dir, r.action), r.operation as Operation, r.params, {
            hostname,
            now: () => 1700000000.75,
          }),
        };
      } catch (error) {
        mine = { error: String(error) };
      }
      const theirs = reference[i]!;
      if ("error" in theirs && "error" in mine) return;
      if ("expect" in mine) rendered++;
      if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
        differences.push(
          `${r.action} ${r.operation} ${JSON.stringify(r.params)}\n ours     ${JSON.stringify(mine)}\n fail2ban ${JSON.stringify(theirs)}`,
        );
      }
    });
    expect(differences.slice(0, 5)).toEqual([]);
    expect(rendered).toBeGreaterThan(200);
  });
});
