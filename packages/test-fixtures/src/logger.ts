// A logger that keeps entries in memory, so tests can assert what an operator would have seen.

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface LogEntry {
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown>;
}

export interface MemoryLogger {
  debug(o: object, msg?: string): void;
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
  readonly entries: LogEntry[];
  /** Entries at `level` (and, if given, whose message contains `text`). */
  find(level: LogLevel, text?: string): LogEntry[];
}

/** pino-compatible subset; set NET2BAN_TEST_LOG=1 to also print entries while debugging a test. */
export function memoryLogger(): MemoryLogger {
  const entries: LogEntry[] = [];
  const echo = process.env["NET2BAN_TEST_LOG"] === "1";
  const log = (level: LogLevel) => (o: object, msg?: string) => {
    const entry = { level, msg: msg ?? "", fields: { ...o } as Record<string, unknown> };
    entries.push(entry);
    if (echo) console.log(JSON.stringify(entry));
  };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    entries,
    find: (level, text) =>
      entries.filter((e) => e.level === level && (text === undefined || e.msg.includes(text))),
  };
}
