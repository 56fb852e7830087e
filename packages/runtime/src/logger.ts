// The one logger of every net2ban daemon: pino JSON (or one-line text) on stdout, with the `<N>` priority
// prefix journald reads when stdout is the journal; or syslog lines (facility daemon, ident net2ban).
import { hostname } from "node:os";
import { Writable } from "node:stream";
import pino, { type DestinationStream, type Logger } from "pino";
import { formatTextLine, journalPrefix, stdoutIsJournal } from "./log-lines.js";
import { DAEMON_FACILITY, formatRfc3164 } from "./syslog.js";
import { createSyslogDestination, DEFAULT_SYSLOG_ADDRESS } from "./syslog-destination.js";

export type { Logger } from "pino";

export interface LoggerOptions {
  /**
   * `stdout` (the default; with the `<N>` prefix when JOURNAL_STREAM says stdout is the journal),
   * `journal` (stdout, always with the prefix) or `syslog` (RFC 3164 lines to `syslogAddress`).
   */
  target: "stdout" | "syslog" | "journal";
  level: string;
  /** Which daemon: "server", "agent", "ctl"; added to every line. */
  component: string;
  /** stdout and journal: `json` (pino's lines, the default) or `text` (`time LEVEL msg key=value ...`). */
  format?: "json" | "text";
  /** syslog only: `udp://host:port` (default udp://127.0.0.1:514) or `tcp://host:port`. */
  syslogAddress?: string;
  /** Where JOURNAL_STREAM is looked up (default process.env); tests pass their own. */
  env?: Record<string, string | undefined>;
  /** Tests: write here instead of stdout / syslog (lines as the target would write them). */
  destination?: DestinationStream;
}

/**
 * Paths never logged: key material and decrypted content. Callers log reasons, names and addresses;
 * this is the net under them.
 */
export const REDACT_PATHS = [
  "key",
  "secret",
  "authkey",
  "keys",
  "password",
  "content",
  "plaintext",
  "*.key",
  "*.secret",
  "*.authkey",
  "*.keys",
  "*.password",
  "*.content",
  "*.plaintext",
];

export function createLogger(options: LoggerOptions): Logger {
  // pino's own base is pid and hostname; setting `base` replaces it, so both are given again: syslog
  // lines show them (`web1 net2ban[812]: ...`), and JSON readers of several hosts tell lines apart.
  const base = { pid: process.pid, hostname: hostname(), component: options.component };
  const common = {
    level: options.level,
    base,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  if (options.target === "syslog") {
    const format = createSyslogFormatter();
    if (options.destination) return pino(common, lineMapper(format, options.destination));
    return pino(common, createSyslogDestination(options.syslogAddress ?? DEFAULT_SYSLOG_ADDRESS, format));
  }
  const journal = options.target === "journal" || stdoutIsJournal(options.env ?? process.env);
  const map = stdoutLineFormat(options.format ?? "json", journal);
  const out = options.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(common, map === undefined ? out : lineMapper(map, out));
}

/** How a stdout line is written: undefined for pino's JSON as it is. */
export function stdoutLineFormat(
  format: "json" | "text",
  journal: boolean,
): ((line: string) => string) | undefined {
  if (format === "json" && !journal) return undefined;
  const body = format === "text" ? formatTextLine : (line: string) => line;
  return journal ? (line) => journalPrefix(line) + body(line) : body;
}

/** A stream that writes each of pino's lines to `out` through `map`. */
function lineMapper(map: (line: string) => string, out: DestinationStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const lines = chunk
        .toString("utf8")
        .split("\n")
        .filter((line) => line.trim() !== "");
      if (lines.length > 0) out.write(`${lines.map(map).join("\n")}\n`);
      done();
    },
  });
}

/** Turns pino's JSON lines into RFC 3164 lines (facility daemon, ident net2ban). */
export function createSyslogFormatter(): (line: string) => string {
  return (line) => {
    const data = JSON.parse(line) as {
      level?: unknown;
      time?: unknown;
      pid?: unknown;
      msg?: unknown;
      hostname?: unknown;
    };
    // Only the message: keeps the original's operator lines readable: "net2ban[123]: IP 203.0.113.9 banned".
    return formatRfc3164(
      {
        level: Number(data.level),
        time: Number(data.time),
        pid: data.pid,
        hostname: typeof data.hostname === "string" ? data.hostname : "localhost",
        msg: typeof data.msg === "string" ? data.msg : "",
      },
      { facility: DAEMON_FACILITY, appname: "net2ban" },
    );
  };
}
