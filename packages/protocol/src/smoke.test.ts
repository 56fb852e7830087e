import * as protocol from "@net2ban/protocol";
import { expect, test } from "vitest";

test("workspace resolves package sources", () => {
  expect((protocol as Record<string, unknown>)["marker"]).toBe("src");
});
