// Small argument checks for the public entry points: a wrong call names the argument and what it got.

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "string")
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (typeof value === "number") return String(value);
  return typeof value;
}

export function assertString(value: unknown, argument: string): asserts value is string {
  if (typeof value !== "string")
    throw new TypeError(`"${argument}" expected a string, got ${describe(value)}`);
}

export function assertNonEmptyString(value: unknown, argument: string): asserts value is string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`"${argument}" expected a non-empty string, got ${describe(value)}`);
  }
}

export function assertObject(value: unknown, argument: string): asserts value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`"${argument}" expected an object, got ${describe(value)}`);
  }
}

export function assertStringRecord(
  value: unknown,
  argument: string,
): asserts value is Record<string, string> {
  assertObject(value, argument);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string")
      throw new TypeError(`"${argument}.${key}" expected a string, got ${describe(item)}`);
  }
}

export function assertFunction(
  value: unknown,
  argument: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== "function")
    throw new TypeError(`"${argument}" expected a function, got ${describe(value)}`);
}

export function assertPositiveNumber(value: unknown, argument: string): asserts value is number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`"${argument}" expected a positive number, got ${describe(value)}`);
  }
}

export function assertOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  argument: string,
): asserts value is T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(`"${argument}" expected one of ${allowed.join(", ")}, got ${describe(value)}`);
  }
}
