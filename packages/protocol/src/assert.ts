// Small argument checks for public entry points: a wrong call names the argument and what it got.

/** Describes a value for an argument error without dumping it (it may be a secret). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.length})`;
  return typeof value;
}

export function assertString(value: unknown, argument: string): asserts value is string {
  if (typeof value !== "string") {
    throw new TypeError(`"${argument}" expected a string, got ${describe(value)}`);
  }
}

/** A secret string: checked for presence and size, never echoed. */
export function assertSecret(value: unknown, argument: string, maxLength: number): asserts value is string {
  assertString(value, argument);
  if (value.length === 0) throw new TypeError(`"${argument}" expected a non-empty string`);
  if (value.length > maxLength) {
    throw new RangeError(`"${argument}" expected at most ${maxLength} characters, got ${value.length}`);
  }
}

export function assertObject(value: unknown, argument: string): asserts value is Record<string, unknown> {
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

export function assertOneOf<T extends string | number>(
  value: unknown,
  allowed: readonly T[],
  argument: string,
): asserts value is T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    const got = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value);
    throw new TypeError(
      `"${argument}" expected one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${got}`,
    );
  }
}

/** An integer in [min, max]; a non-number is a TypeError, an out-of-range number a RangeError. */
export function assertInteger(
  value: unknown,
  argument: string,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== "number")
    throw new TypeError(`"${argument}" expected an integer, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`"${argument}" expected an integer from ${min} to ${max}, got ${value}`);
  }
}

/** A finite number in [min, max]. */
export function assertNumber(
  value: unknown,
  argument: string,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== "number")
    throw new TypeError(`"${argument}" expected a number, got ${describe(value)}`);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`"${argument}" expected a number from ${min} to ${max}, got ${value}`);
  }
}

export function assertBytes(value: unknown, argument: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`"${argument}" expected a Uint8Array, got ${describe(value)}`);
  }
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`"${argument}" expected ${length} bytes, got ${value.length}`);
  }
}
