// How long a consumer waits before handing a failed message back: long enough that a quorum queue's
// delivery limit outlasts a failover, short enough that a glitch costs little.

import { describe, expect, it } from "vitest";
import { DEFAULT_DELIVERY_LIMIT } from "./queues.js";
import { failurePauseMs } from "./subscription.js";

describe("failurePauseMs", () => {
  it("starts at 250 ms and doubles up to 5 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(failurePauseMs)).toEqual([
      250, 500, 1000, 2000, 4000, 5000, 5000, 5000,
    ]);
    expect(failurePauseMs(0)).toBe(250);
  });

  it("spreads the default delivery limit over more than a minute of retries", () => {
    let total = 0;
    for (let failure = 1; failure < DEFAULT_DELIVERY_LIMIT; failure++) total += failurePauseMs(failure);
    expect(total).toBeGreaterThan(60_000);
  });
});
