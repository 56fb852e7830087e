// Small argument checks for the public entry points: a wrong call names the argument and what it got.

/** Describes a value for an argument error without dumping it whole. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

export function assertString(value: unknown, argument: string): asserts value is string {
  if (typeof value !== "string") {
    throw new TypeError(`"${argument}" expected a string, got ${describe(value)}`);
  }
}

export function assertObject<T>(value: T, argument: string): asserts value is T & object {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`"${argument}" expected an object, got ${describe(value)}`);
  }
}

export function assertFunction(
  value: unknown,
  argument: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== "function") {
    throw new TypeError(`"${argument}" expected a function, got ${describe(value)}`);
  }
}

export function assertOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  argument: string,
): asserts value is T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    const got = typeof value === "string" ? JSON.stringify(value) : describe(value);
    throw new TypeError(`"${argument}" expected one of ${allowed.join(", ")}, got ${got}`);
  }
}

export function assertNonNegativeInteger(value: unknown, argument: string): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    const got = typeof value === "number" ? String(value) : describe(value);
    throw new TypeError(`"${argument}" expected a non-negative integer, got ${got}`);
  }
}
