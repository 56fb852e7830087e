// Small argument checks for the transport's public entry points: a wrong call names the argument.

/** Describes a value for an argument error without dumping it (a URL may hold a password). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (Buffer.isBuffer(value)) return `Buffer(${value.length})`;
  return typeof value;
}

export function assertObject(value: unknown, argument: string): asserts value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`"${argument}" expected an object, got ${describe(value)}`);
  }
}

export function assertNonEmptyString(value: unknown, argument: string): asserts value is string {
  if (typeof value !== "string")
    throw new TypeError(`"${argument}" expected a string, got ${describe(value)}`);
  if (value.length === 0) throw new TypeError(`"${argument}" expected a non-empty string`);
}

export function assertBuffer(value: unknown, argument: string): asserts value is Buffer {
  if (!Buffer.isBuffer(value)) throw new TypeError(`"${argument}" expected a Buffer, got ${describe(value)}`);
}

export function assertFunction(
  value: unknown,
  argument: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== "function") {
    throw new TypeError(`"${argument}" expected a function, got ${describe(value)}`);
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

export function assertBoolean(value: unknown, argument: string): asserts value is boolean {
  if (typeof value !== "boolean")
    throw new TypeError(`"${argument}" expected a boolean, got ${describe(value)}`);
}

export function assertOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  argument: string,
): asserts value is T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    const got = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : describe(value);
    throw new TypeError(
      `"${argument}" expected one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${got}`,
    );
  }
}

/** PEM material for TLS: a string or a Buffer. */
export function assertPem(value: unknown, argument: string): asserts value is string | Buffer {
  if (typeof value !== "string" && !Buffer.isBuffer(value)) {
    throw new TypeError(`"${argument}" expected PEM contents as a string or Buffer, got ${describe(value)}`);
  }
}
