// The one logger of every net2ban daemon: pino JSON on stdout, or syslog lines (facility daemon, ident net2ban).
import { createSocket } from "node:dgram";
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  /** `stdout` (pino JSON, the default) or `syslog` (RFC 3164 through pino-syslog). */
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
  const base = { component: options.component };
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

interface SyslogBuilderOptions {
  modern: boolean;
  appname: string;
  facility: number;
  messageOnly: boolean;
  newline: boolean;
}

const DAEMON_FACILITY = 3;

/** Turns pino's JSON lines into RFC 3164 datagrams, formatted by pino-syslog's own builder. */
export function createSyslogFormatter(): (line: string) => string {
  const require = createRequire(import.meta.url);
  const { buildOptions } = require("pino-syslog/lib/utils.js") as {
    buildOptions: (o: Partial<SyslogBuilderOptions>) => SyslogBuilderOptions;
  };
  const { messageBuilderFactory } = require("pino-syslog/lib/rfc3164.js") as {
    messageBuilderFactory: (o: SyslogBuilderOptions) => (data: object) => string;
  };
  // messageOnly keeps the original's operator lines readable: "net2ban[123]: IP 203.0.113.9 banned".
  const build = messageBuilderFactory(
    buildOptions({ modern: false, appname: "net2ban", facility: DAEMON_FACILITY, messageOnly: true }),
  );
  return (line) => {
    const data = JSON.parse(line) as { msg?: unknown; hostname?: unknown };
    if (typeof data.msg !== "string") data.msg = "";
    if (typeof data.hostname !== "string") data.hostname = "localhost";
    return build(data);
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
