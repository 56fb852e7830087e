// Durations as operators write them (`90s`, `10m`, `1h30m`, `1d`, `600`): ban times, drift intervals and
// timeouts in net2ban.cfg and on net2banctl's command line.

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
};

/** Words that mean "no end" where a duration allows it (fail2ban writes a negative bantime). */
const PERMANENT_WORDS = new Set(["permanent", "forever", "never", "-1"]);

/** Longest duration accepted: 100 years, so that epoch arithmetic and timers never overflow. */
export const MAX_DURATION_SECONDS = 100 * 365 * 86_400;

const PART = /([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)/gy;

/** A duration that is not one: `problem` says why, in the words an operator reads. */
export class DurationError extends Error {
  override readonly name = "DurationError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Seconds of `text`: a number with an optional unit (s, m, h, d, w), several of them added up
 * (`1h 30m`, `1h30m`); a bare number is seconds, as fail2ban's `bantime = 600`. With `permanent: true`
 * the words `permanent`, `forever`, `never` and fail2ban's `-1` give null (no end). Throws
 * DurationError for anything else, for zero and for more than 100 years.
 */
export function parseDurationSeconds(text: string, options: { permanent: true }): number | null;
export function parseDurationSeconds(text: string, options?: { permanent?: false }): number;
export function parseDurationSeconds(text: string, options: { permanent?: boolean } = {}): number | null {
  if (typeof text !== "string") {
    throw new TypeError(`"text" expected a string, got ${text === null ? "null" : typeof text}`);
  }
  const trimmed = text.trim().toLowerCase();
  if (options.permanent === true && PERMANENT_WORDS.has(trimmed)) return null;
  const expected = `expected a duration like 90s, 10m, 1h, 1d or 1h30m${options.permanent === true ? ", or permanent" : ""}, got ${JSON.stringify(text)}`;
  if (trimmed === "") throw new DurationError(expected);
  let total = 0;
  let at = 0;
  let parts = 0;
  PART.lastIndex = 0;
  while (at < trimmed.length) {
    PART.lastIndex = at;
    const match = PART.exec(trimmed);
    if (match === null) throw new DurationError(expected);
    const [whole, number, unit] = match as unknown as [string, string, string];
    // A bare number is only accepted alone: "1h 30" is more likely a typo than 1 h 30 s.
    if (unit === "" && (parts > 0 || match.index + whole.length < trimmed.length)) {
      throw new DurationError(expected);
    }
    total += Number(number) * (UNIT_SECONDS[unit === "" ? "s" : unit] ?? 1);
    parts += 1;
    at = match.index + whole.length;
    while (trimmed[at] === " ") at += 1;
  }
  if (!(total > 0)) throw new DurationError(`${expected} (it must be more than 0)`);
  if (total > MAX_DURATION_SECONDS) {
    throw new DurationError(`${JSON.stringify(text)} is longer than 100 years`);
  }
  return total;
}

/** `5400` -> `1h30m`, `0.5` -> `0.5s`, null -> `permanent`: how logs and net2banctl show a duration. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return "permanent";
  if (!Number.isFinite(seconds) || seconds < 0) return `${seconds}s`;
  if (seconds < 60 && !Number.isInteger(seconds)) return `${Math.round(seconds * 10) / 10}s`;
  let rest = Math.round(seconds);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join("");
}
