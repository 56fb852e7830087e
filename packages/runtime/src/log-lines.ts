// Lines for stdout other than pino's JSON: the human-readable text format (`log_format = text`) and the
// `<N>` priority prefix that journald reads (sd-daemon(3)), both made from pino's JSON records.
import { fstatSync } from "node:fs";
import { syslogSeverity } from "./syslog.js";

/** pino's level numbers as the words a text line shows. */
const LEVEL_NAMES: ReadonlyMap<number, string> = new Map([
  [10, "TRACE"],
  [20, "DEBUG"],
  [30, "INFO"],
  [40, "WARN"],
  [50, "ERROR"],
  [60, "FATAL"],
]);
/** Fields a text line shows in its own places, or not at all (every line of a daemon carries them). */
const OWN_FIELDS = new Set(["level", "time", "msg", "pid", "hostname"]);

/** A value of `key=value`: bare when it is one plain word, else JSON (quoted, escaped, on one line). */
function fieldValue(value: unknown): string {
  if (typeof value === "string" && /^[\w.:/@+-]+$/.test(value)) return value;
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** `2026-12-08T01:11:07.123Z WARN msg key=value ...`, one line, from one pino JSON record. */
export function formatTextLine(json: string): string {
  const record = JSON.parse(json) as Record<string, unknown>;
  const time = typeof record["time"] === "number" ? new Date(record["time"]).toISOString() : "-";
  const level = LEVEL_NAMES.get(Number(record["level"])) ?? String(record["level"]);
  const msg = typeof record["msg"] === "string" ? record["msg"] : "";
  const fields = Object.entries(record)
    .filter(([key]) => !OWN_FIELDS.has(key))
    .map(([key, value]) => `${key}=${fieldValue(value)}`);
  // A message with a line break would make two lines of one record: escaped as JSON would.
  const text = [time, level, msg.replace(/[\r\n]/g, (c) => (c === "\n" ? "\\n" : "\\r")), ...fields];
  return text.join(" ");
}

/** The `<N>` journald reads at the start of a stdout line (SyslogLevelPrefix=, on by default). */
export function journalPrefix(json: string): string {
  const level = Number((JSON.parse(json) as { level?: unknown }).level);
  return `<${syslogSeverity(level)}>`;
}

/**
 * Whether stdout is a stream to the journal: systemd sets JOURNAL_STREAM to `device:inode` of the stream
 * it connected to stdout/stderr; a process whose stdout was redirected since (a pipe, a file) inherits the
 * variable but not the stream, so the two are compared (sd_journal_stream_fd(3), systemd.exec(5)).
 */
export function stdoutIsJournal(
  env: Record<string, string | undefined>,
  statStdout: () => { dev: number | bigint; ino: number | bigint } = () => fstatSync(1),
): boolean {
  const stream = env["JOURNAL_STREAM"];
  if (stream === undefined || !/^\d+:\d+$/.test(stream)) return false;
  try {
    const { dev, ino } = statStdout();
    return stream === `${dev}:${ino}`;
  } catch {
    return false;
  }
}
