// Reading and rendering corner cases (includes, .local, NAME.d, known/, interpolation, INI syntax,
// conditionals, tags, errors) on crafted action files, each compared with fail2ban itself.

import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  assertFail2banInstalled,
  type ReferenceAnswer,
  type ReferenceRequest,
  referenceRender,
} from "../test/reference.js";
import { loadAction } from "./load.js";
import { OPERATIONS, type Operation, renderOperation } from "./render.js";

const dir = fileURLToPath(new URL("../test/fixtures/action.d", import.meta.url));
const hostname = { fq: "host.example.com", short: "host" };
const now = 1700000000.5;
const ticket = {
  failures: "3",
  time: "1700000001",
  bantime: "3600",
  matches: "m1\nm2 ;",
  "F-USER": "bob",
  "F-ID": "7",
  "F-PORT": "p",
};
const paramSets: Array<Record<string, string>> = [
  { name: "sshd", ...ticket },
  { name: "web", port: "443", chain: "FORWARD", ...ticket },
  { ...ticket },
  {
    name: "sshd",
    ipmatches: "i1",
    "ip-host": "h.example",
    restored: "1",
    bancount: "2",
    "jail.banned": "9",
    ...ticket,
  },
];

function ours(request: ReferenceRequest): ReferenceAnswer {
  try {
    return {
      expect: renderOperation(
        loadAction(request.dir, request.action),
        request.operation as Operation,
        request.params,
        {
          hostname,
          now: () => now,
          ...(request.ipv6 === undefined ? {} : { ipv6: request.ipv6 }),
        },
      ),
    };
  } catch (error) {
    return { error: String(error) };
  }
}

describe("crafted action files against fail2ban", () => {
  beforeAll(() => assertFail2banInstalled());

  it("renders every operation of every fixture identically (or fails where fail2ban fails)", () => {
    const actions = readdirSync(dir)
      .filter((f) => f.endsWith(".conf"))
      .map((f) => f.slice(0, -5))
      .sort();
    const requests: ReferenceRequest[] = [];
    for (const action of actions) {
      for (const operation of OPERATIONS) {
        for (const params of paramSets) {
          for (const ip of [undefined, "192.0.2.7", "2001:db8::7", "198.51.100.0/24"]) {
            // IPv6 availability only matters when no ticket picks the family
            for (const ipv6 of ip === undefined ? [true, false] : [true]) {
              const withIp = ip === undefined ? params : { ...params, ip };
              requests.push({ dir, action, operation, params: withIp, hostname, now, ipv6 });
            }
          }
        }
      }
    }
    const reference = referenceRender(requests);
    const differences: string[] = [];
    let errors = 0;
    requests.forEach((request, i) => {
      const mine = ours(request);
      const theirs = reference[i]!;
      if ("error" in theirs) {
        errors++;
        if (!("error" in mine))
          differences.push(
            `${describeRequest(request)}: fail2ban fails (${theirs.error}), we render ${JSON.stringify(mine)}`,
          );
        return;
      }
      if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
        differences.push(
          `${describeRequest(request)}:\n  ours     ${JSON.stringify(mine)}\n  fail2ban ${JSON.stringify(theirs)}`,
        );
      }
    });
    expect(differences.slice(0, 20)).toEqual([]);
    // the fixtures include actions fail2ban rejects and ticket operations without ip: both must occur
    expect(errors).toBeGreaterThan(0);
    expect(errors).toBeLessThan(requests.length / 2);
  }, 120_000);
});

function describeRequest(r: ReferenceRequest): string {
  return `${r.action} ${r.operation} ${JSON.stringify(r.params)} ipv6=${r.ipv6}`;
}
