// Writes JSON exactly as Python 2.7's json.dumps does by default, the plaintext format of the v1 wire.

/** A JSON value; objects are written in their own key order (the caller chooses it). */
export type PythonJsonValue =
  | string
  | number
  | boolean
  | null
  | readonly PythonJsonValue[]
  | { readonly [key: string]: PythonJsonValue };

/** Python's short escapes; every other character outside space..~ becomes \uXXXX (lowercase hex). */
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/** What Python's ESCAPE_ASCII matches (`([\\"]|[^\ -~])`), applied per UTF-16 unit: astral characters
 * come out as surrogate pairs, as in Python 2. */
const NEEDS_ESCAPE = /[\\"]|[^ -~]/g;
const PLAIN = /^[ !#-[\]-~]*$/;

function escapeChar(char: string): string {
  return SHORT_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** `json.dumps(text)` with ensure_ascii: `"` and `\` escaped, `/` not, non-ASCII as \uXXXX. */
export function pythonJsonString(text: string): string {
  if (PLAIN.test(text)) return `"${text}"`;
  return `"${text.replace(NEEDS_ESCAPE, escapeChar)}"`;
}

/**
 * `repr(float)` of Python 2.7 (and 3): the shortest digits that round-trip, in positional notation with
 * at least one decimal (`1411660800.0`) unless the decimal exponent is < -4 or >= 16, then
 * `1e-05` / `1.5e+16` (exponent of at least two digits).
 */
export function pythonFloatRepr(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`"value" expected a finite number, got ${value}`);
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const sign = value < 0 ? "-" : "";
  // toExponential() without an argument gives the same shortest round-trip digits as Python's repr.
  const [mantissa = "", exponentText = ""] = Math.abs(value).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  // Python's `decpt`: the value is 0.<digits> * 10^decpt.
  const decpt = exponent + 1;
  if (decpt <= -4 || decpt > 16) {
    const magnitude = Math.abs(exponent);
    const head = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    return `${sign}${head}e${exponent < 0 ? "-" : "+"}${magnitude < 10 ? "0" : ""}${magnitude}`;
  }
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/**
 * `json.dumps(value)` of Python 2.7 with its defaults: separators `", "` and `": "`, ensure_ascii,
 * keys in the object's own order. Every number is written as a Python float, because the only number
 * the legacy format carries is `time.time()`; JSON.parse reads `5.0` back as 5 all the same.
 */
export function encodePythonJson(value: PythonJsonValue): string {
  if (typeof value === "string") return pythonJsonString(value);
  if (typeof value === "number") return pythonFloatRepr(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null) return "null";
  if (Array.isArray(value)) {
    return `[${(value as readonly PythonJsonValue[]).map(encodePythonJson).join(", ")}]`;
  }
  if (typeof value !== "object") throw new TypeError(`"value" cannot be written as JSON: ${typeof value}`);
  const parts: string[] = [];
  for (const key of Object.keys(value)) {
    const item = (value as { readonly [key: string]: PythonJsonValue })[key];
    if (item === undefined) continue;
    parts.push(`${pythonJsonString(key)}: ${encodePythonJson(item)}`);
  }
  return `{${parts.join(", ")}}`;
}
