// Every stock action file of fail2ban 1.0.2 (/etc/fail2ban/action.d), every operation, IPv4 and (where
// the action has inet6 variants) IPv6: our rendering against what fail2ban itself executes.
// The summary line "N identical of M" is what docs/fail2ban-compat.md quotes.

import { readdirSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  assertFail2banInstalled,
  type ReferenceAnswer,
  type ReferenceRequest,
  referenceRender,
  STOCK_ACTIONS_DIR,
} from "../test/reference.js";
import { loadAction } from "./load.js";
import { type Operation, renderOperation } from "./render.js";

const exceptions = (
  JSON.parse(readFileSync(new URL("../test/compat-exceptions.json", import.meta.url), "utf8")) as {
    exceptions: Array<{ action: string; reason: string }>;
  }
).exceptions;
const excepted = new Set(exceptions.map((e) => e.action));

const hostname = { fq: "host.example.com", short: "host" };
const now = 1700000000.25;
// ticket values with shell specials on purpose: they must travel as f2bV_* variables exactly as in fail2ban
const common = {
  name: "sshd",
  port: "ssh",
  protocol: "tcp",
  failures: "5",
  time: "1700000000",
  bantime: "600",
  matches:
    "Nov 14 22:13:15 srv sshd[4242]: Failed password for root from 192.0.2.7 port 4711 ssh2\n$(id) `id` 'q' \"dq\" ; | &",
  "F-USER": "root; touch /tmp/pwned",
};

function hasInet6Variants(action: string): boolean {
  const { config } = loadAction(STOCK_ACTIONS_DIR, action);
  return [...config.sections.values()].some((section) =>
    [...section.keys()].some((key) => key.endsWith("?family=inet6")),
  );
}

function ours(request: ReferenceRequest): ReferenceAnswer {
  try {
    const expect = renderOperation(
      loadAction(request.dir, request.action),
      request.operation as Operation,
      request.params,
      {
        hostname,
        now: () => now,
      },
    );
    return { expect };
  } catch (error) {
    return { error: String(error) };
  }
}

function compare(operations: readonly string[], bothFamilies: boolean) {
  const actions = readdirSync(STOCK_ACTIONS_DIR)
    .filter((f) => f.endsWith(".conf"))
    .map((f) => f.slice(0, -".conf".length))
    .sort();
  const requests: ReferenceRequest[] = [];
  for (const action of actions) {
    const families = bothFamilies || hasInet6Variants(action) ? ["192.0.2.7", "2001:db8::7"] : ["192.0.2.7"];
    for (const operation of operations) {
      for (const ip of families) {
        requests.push({
          dir: STOCK_ACTIONS_DIR,
          action,
          operation,
          params: { ...common, ip },
          hostname,
          now,
        });
      }
    }
  }
  const reference = referenceRender(requests);
  const differences: string[] = [];
  let identical = 0;
  let exceptedCount = 0;
  requests.forEach((request, i) => {
    const mine = ours(request);
    const theirs = reference[i]!;
    const same = "error" in mine ? "error" in theirs : JSON.stringify(mine) === JSON.stringify(theirs);
    if (same) identical++;
    else if (excepted.has(request.action)) exceptedCount++;
    else
      differences.push(
        `${request.action} ${request.operation} ${request.params.ip}: ours ${JSON.stringify(mine)} fail2ban ${JSON.stringify(theirs)}`,
      );
  });
  return { actions, total: requests.length, identical, exceptedCount, differences };
}

describe("stock fail2ban action.d against fail2ban itself", () => {
  beforeAll(() => assertFail2banInstalled());

  it("renders start/stop/check/ban/unban identically except the documented exceptions", () => {
    const result = compare(["actionstart", "actionstop", "actioncheck", "actionban", "actionunban"], false);
    console.log(
      `fail2ban-compat: ${result.identical} identical of ${result.total} (${result.actions.length} action files; ` +
        `${result.exceptedCount} documented exceptions)`,
    );
    expect(result.differences).toEqual([]);
    expect(result.actions.length).toBeGreaterThan(50);
    expect(result.exceptedCount).toBeGreaterThan(0);
    expect(result.identical).toBe(result.total - result.exceptedCount);
  }, 120_000);

  it("also agrees on flush, reload, repair, prolong and reban, for both families everywhere", () => {
    const result = compare(
      ["actionflush", "actionreload", "actionrepair", "actionprolong", "actionreban"],
      true,
    );
    console.log(`fail2ban-compat (extra operations): ${result.identical} identical of ${result.total}`);
    expect(result.differences).toEqual([]);
    expect(result.identical).toBe(result.total - result.exceptedCount);
  }, 120_000);
});
