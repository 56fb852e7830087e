// waitFor, tempDir, uniquePrefix, freePort: the plain helpers other packages' tests build on.

import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cleanupQueues, freePort, tempDir, uniquePrefix, WaitTimeoutError, waitFor } from "./index.js";

describe("waitFor", () => {
  it("returns the first truthy value of the predicate", async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        return calls >= 3 ? { calls } : undefined;
      },
      { what: "three calls", intervalMs: 1 },
    );
    expect(value).toEqual({ calls: 3 });
  });

  it("names what it waited for and quotes the predicate's last error on timeout", async () => {
    const failing = waitFor(
      () => {
        throw new Error("queue not there yet");
      },
      { what: "queue q to exist", timeoutMs: 30, intervalMs: 5 },
    );
    await expect(failing).rejects.toThrow(WaitTimeoutError);
    await expect(failing).rejects.toThrow(/waiting for queue q to exist \(last error: queue not there yet\)/);
  });
});

describe("tempDir", () => {
  it("creates a directory named after the label and removes it with its contents", async () => {
    const dir = await tempDir("unit test/../x");
    expect(dir.path).toMatch(/n2b-unit_test_.._x-/);
    await writeFile(join(dir.path, "f"), "x");
    await dir.remove();
    expect(existsSync(dir.path)).toBe(false);
    await dir.remove();
  });
});

describe("uniquePrefix", () => {
  it("differs between calls and keeps queue names to safe characters", () => {
    const a = uniquePrefix("fan out/1");
    const b = uniquePrefix("fan out/1");
    expect(a).not.toBe(b);
    expect(a).toMatch(/^n2bt-fan-out-1-[0-9a-f]{8}-$/);
  });

  it("cleanupQueues refuses a prefix short enough to hit other people's queues", async () => {
    await expect(cleanupQueues("n2b")).rejects.toThrow(/short prefix/);
  });
});

describe("freePort", () => {
  it("returns a port that can be listened on", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65_536);
  });
});
