// The Python 2 JSON writer: byte for byte against Python's own output and the legacy vectors' plaintexts.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodePythonJson, type PythonJsonValue, pythonFloatRepr, pythonJsonString } from "./python-json.js";

function vectors<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../test/vectors/${file}`, import.meta.url), "utf8")) as T;
}

interface PythonCases {
  floats: { value: number; python: string }[];
  strings: { value: string; python: string }[];
  objects: { value: PythonJsonValue; python: string }[];
}
const python = vectors<PythonCases>("python-json.json");
const legacy = vectors<{ vectors: { name: string; plaintext_json?: string }[] }>("legacy-v1.json");

describe("against Python's json.dumps (test/generate/python-json.py)", () => {
  it("floats: repr, shortest round trip, exponent thresholds", () => {
    expect(python.floats.length).toBeGreaterThan(300);
    for (const { value, python: expected } of python.floats) expect(pythonFloatRepr(value)).toBe(expected);
  });
  it("strings: ensure_ascii escapes, surrogate pairs, lone surrogates, / unescaped", () => {
    expect(python.strings.length).toBeGreaterThan(150);
    for (const { value, python: expected } of python.strings) expect(pythonJsonString(value)).toBe(expected);
  });
  it("objects and arrays: separators and nesting", () => {
    for (const { value, python: expected } of python.objects) expect(encodePythonJson(value)).toBe(expected);
  });
});

describe("legacy vectors' plaintexts", () => {
  const positives = legacy.vectors.filter((vector) => vector.plaintext_json !== undefined);
  it("there are eight, including the astral emoji and the float timestamps", () => {
    expect(positives).toHaveLength(8);
    expect(positives.some((vector) => vector.plaintext_json?.includes("\\ud83d\\ude00"))).toBe(true);
  });
  it.each(positives)("$name comes out byte for byte", (vector) => {
    const text = vector.plaintext_json!;
    // JSON.parse keeps the vector's key order, which is what the v1 codec writes.
    expect(encodePythonJson(JSON.parse(text) as PythonJsonValue)).toBe(text);
  });
});

describe("properties", () => {
  it("JSON.parse(encode(x)) deep-equals x", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(encodePythonJson(value as PythonJsonValue))).toStrictEqual(value);
      }),
      { numRuns: 500 },
    );
  });
  it("output is printable ASCII only", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        expect(pythonJsonString(text)).toMatch(/^[ -~]*$/);
        expect(JSON.parse(pythonJsonString(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
  it("floats round-trip and always carry a '.' or an exponent, as Python's do", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        const text = pythonFloatRepr(value);
        expect(Object.is(Number(text), value)).toBe(true);
        expect(text).toMatch(/\.|e/);
      }),
      { numRuns: 2000 },
    );
  });
  it("non-finite numbers are refused (Python would write NaN/Infinity, which is not JSON)", () => {
    expect(() => pythonFloatRepr(Number.NaN)).toThrow(RangeError);
    expect(() => encodePythonJson(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
