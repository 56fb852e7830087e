// Polling helpers for tests: wait for a condition with a deadline and an error that says what was awaited.

export interface WaitForOptions {
  /** What is awaited, for the timeout message ("all 2000 messages consumed"). */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
}

/** The values `if (value)` lets through. */
export type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
}

/**
 * Calls `predicate` until it returns a truthy value (returned) or `timeoutMs` passes (WaitTimeoutError naming
 * `what`). A predicate that throws counts as "not yet"; its last error is quoted in the timeout message.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { what, timeoutMs = 10_000, intervalMs = 50 }: WaitForOptions,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as Truthy<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? "" : ` (last error: ${errorText(lastError)})`;
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`, {
        cause: lastError,
      });
    }
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
