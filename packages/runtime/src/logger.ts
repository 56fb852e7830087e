// The one logger of every net2ban daemon: pino JSON on stdout, or syslog lines (facility daemon, ident net2ban).
import { createSocket } from "node:dgram";
import { hostname } from "node:os";
import { Writable } from "node:stream";
import pino, { type DestinationStream, type Logger } from "pino";
import { DAEMON_FACILITY, formatRfc3164 } from "./syslog.js";

export type { Logger } from "pino";

export interface LoggerOptions {
  /** `stdout` (pino JSON, the default) or `syslog` (RFC 3164 datagrams over UDP). */
  target: "stdout" | "syslog";
  level: string;
  /** Which daemon: "server", "agent", "ctl"; added to every line. */
  component: string;
  /** syslog only: where datagrams go, `udp://host:port` (default udp://127.0.0.1:514). */
  syslogAddress?: string;
  /** Tests: write here instead of stdout / syslog. */
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
  if (options.destination) return pino(common, options.destination);
  if (options.target === "syslog") {
    return pino(common, createSyslogDestination(options.syslogAddress ?? "udp://127.0.0.1:514"));
  }
  return pino(common, pino.destination({ dest: 1, sync: false }));
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

function createSyslogDestination(address: string): DestinationStream {
  const url = new URL(address);
  if (url.protocol !== "udp:")
    throw new TypeError(`syslog address: expected udp://host:port, got "${address}"`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 514);
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  socket.unref();
  const format = createSyslogFormatter();
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue;
        socket.send(format(line), port, host);
      }
      done();
    },
    final(done) {
      socket.close();
      done();
    },
  });
}
