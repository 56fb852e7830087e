// Acceptance: every rendering of test/cases.json (taken from real fail2ban 1.0.2 on Debian bookworm,
// copied from the team's shared fail2ban-compat set) comes out byte for byte.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { assertFail2banInstalled, STOCK_ACTIONS_DIR } from "../test/reference.js";
import { ActionConfigError } from "./errors.js";
import { loadAction } from "./load.js";
import { type Operation, renderOperation } from "./render.js";

interface Case {
  action: string;
  operation: Operation;
  params: Record<string, string>;
  expect: unknown;
}

const file = JSON.parse(readFileSync(new URL("../test/cases.json", import.meta.url), "utf8")) as {
  cases: Case[];
};
const hostname = { fq: "host.example.com", short: "host" };

describe("fail2ban-compat cases.json", () => {
  beforeAll(() => assertFail2banInstalled());

  it("has cases", () => {
    expect(file.cases.length).toBeGreaterThanOrEqual(42);
  });

  it.each(file.cases.map((c, i) => [`${i} ${c.action} ${c.operation} ${c.params.ip ?? ""}`, c] as const))(
    "%s",
    (_title, c) => {
      const render = () =>
        renderOperation(loadAction(STOCK_ACTIONS_DIR, c.action), c.operation, c.params, { hostname });
      const wanted = c.expect;
      if (wanted !== null && typeof wanted === "object" && "error" in wanted) {
        expect(render).toThrow(ActionConfigError);
      } else {
        expect(render()).toEqual(wanted);
      }
    },
  );
});
