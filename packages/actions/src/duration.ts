// fail2ban's MyTime.str2seconds for an action's `timeout` (ASCII forms only, evaluated without eval)
// and Python's str() of the resulting number, as `<timeout>` renders it.

/** A number as Python computed it: int or float (they print differently). */
export interface PyNumber {
  readonly value: number;
  readonly float: boolean;
}

/** Python str() of an int or float (floats always show a fraction: `90.0`). */
export function pyNumberText(n: PyNumber): string {
  if (!n.float) return String(n.value);
  if (Number.isInteger(n.value) && Math.abs(n.value) < 1e16) return `${n.value}.0`;
  return String(n.value);
}

const UNITS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(?<=[\d\s])(days?|da|dd?)\b/gi, "*86400"],
  [/(?<=[\d\s])(weeks?|wee?|ww?)\b/gi, "*604800"],
  [/(?<=[\d\s])(months?|mon?)\b/gi, "*2629800.0"],
  [/(?<=[\d\s])(years?|yea?|yy?)\b/gi, "*31557600.0"],
  [/(?<=[\d\s])(seconds?|sec?|ss?)\b/gi, "*1"],
  [/(?<=[\d\s])(minutes?|min?|mm?)\b/gi, "*60"],
  [/(?<=[\d\s])(hours?|hou?|hh?)\b/gi, "*3600"],
];

/**
 * `timeout = 1h 30m` -> 5400 as fail2ban computes it. Undefined for anything that is not plain
 * arithmetic on numbers and units after fail2ban's rewriting (fail2ban would eval() it).
 */
export function parseFail2banDuration(text: string): PyNumber | undefined {
  if (!/^[\x20-\x7e\t]*$/.test(text)) return undefined;
  let expr = text.replace(/(?<=[a-z])(\d)/gi, " $1");
  for (const [re, replacement] of UNITS) expr = expr.replace(re, replacement);
  expr = expr.replace(/(\d)\s+(\d)/g, "$1+$2");
  return evaluate(expr);
}

// A tiny Python-semantics evaluator for + - * / on ints and floats ("/" always gives a float).
function evaluate(expr: string): PyNumber | undefined {
  const tokens = expr.match(/\d+\.\d*|\.\d+|\d+|[-+*/()]|\S/g) ?? [];
  let at = 0;
  const peek = (): string | undefined => tokens[at];
  const primary = (): PyNumber | undefined => {
    const token = tokens[at++];
    if (token === undefined) return undefined;
    if (token === "(") {
      const inner = sum();
      if (tokens[at++] !== ")") return undefined;
      return inner;
    }
    if (token === "-" || token === "+") {
      const operand = primary();
      return operand && { value: token === "-" ? -operand.value : operand.value, float: operand.float };
    }
    if (!/^(\d+\.\d*|\.\d+|\d+)$/.test(token)) return undefined;
    return { value: Number(token), float: token.includes(".") };
  };
  const product = (): PyNumber | undefined => {
    let left = primary();
    while (left && (peek() === "*" || peek() === "/")) {
      const op = tokens[at++];
      const right = primary();
      if (!right) return undefined;
      if (op === "/") {
        if (right.value === 0) return undefined;
        left = { value: left.value / right.value, float: true };
      } else left = { value: left.value * right.value, float: left.float || right.float };
    }
    return left;
  };
  const sum = (): PyNumber | undefined => {
    let left = product();
    while (left && (peek() === "+" || peek() === "-")) {
      const op = tokens[at++];
      const right = product();
      if (!right) return undefined;
      left = {
        value: op === "+" ? left.value + right.value : left.value - right.value,
        float: left.float || right.float,
      };
    }
    return left;
  };
  const result = sum();
  if (result === undefined || at !== tokens.length || !Number.isFinite(result.value)) return undefined;
  return result;
}
