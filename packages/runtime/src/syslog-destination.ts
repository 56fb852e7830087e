// Where `log = syslog` sends its RFC 3164 lines: `syslog_address`, udp://host:port (one datagram per line)
// or tcp://host:port (octet-counting framing, RFC 6587 3.4.1: `LEN SP LINE`, so that no line can split or
// join another whatever it holds; rsyslog's imtcp and syslog-ng's syslog() source read it).
import { createSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import { Writable } from "node:stream";

export const DEFAULT_SYSLOG_ADDRESS = "udp://127.0.0.1:514";
/** Lines kept while a TCP connection is being made; more are dropped (a log must never hold a daemon up). */
const MAX_PENDING = 1000;
/** The least time between two TCP connection attempts. */
const RECONNECT_MS = 1000;

export interface SyslogAddress {
  transport: "udp" | "tcp";
  host: string;
  port: number;
}

/** `udp://host:port` or `tcp://host:port` (port default 514); TypeError with one line otherwise. */
export function parseSyslogAddress(address: string): SyslogAddress {
  let url: URL | undefined;
  try {
    url = new URL(address);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "udp:" && url.protocol !== "tcp:") || url.hostname === "") {
    throw new TypeError(`syslog_address: expected udp://host:port or tcp://host:port, got "${address}"`);
  }
  return {
    transport: url.protocol === "udp:" ? "udp" : "tcp",
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || 514),
  };
}

/** A stream of pino JSON lines that sends each, formatted by `format`, to `address`. */
export function createSyslogDestination(address: string, format: (line: string) => string): Writable {
  const target = parseSyslogAddress(address);
  const send = target.transport === "udp" ? udpSender(target) : tcpSender(target);
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") send.line(format(line));
      }
      done();
    },
    final(done) {
      send.close();
      done();
    },
  });
}

interface Sender {
  line(text: string): void;
  close(): void;
}

function udpSender({ host, port }: SyslogAddress): Sender {
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  socket.unref();
  // A datagram that cannot be sent (no route) is dropped, as syslog over UDP drops it anywhere.
  socket.on("error", () => undefined);
  return {
    line: (text) => socket.send(text, port, host),
    close: () => socket.close(),
  };
}

function tcpSender({ host, port }: SyslogAddress): Sender {
  let socket: Socket | undefined;
  let connected = false;
  let lastAttempt = 0;
  const pending: string[] = [];
  const frame = (text: string) => `${Buffer.byteLength(text)} ${text}`;
  const open = () => {
    lastAttempt = Date.now();
    const next = connect({ host, port });
    socket = next;
    next.unref();
    next.setNoDelay(true);
    next.on("connect", () => {
      connected = true;
      next.write(pending.splice(0).map(frame).join(""));
    });
    // The collector went away: reconnect at the next line (at most once a second), drop what is lost.
    next.on("error", () => undefined);
    next.on("close", () => {
      connected = false;
      if (socket === next) socket = undefined;
    });
  };
  return {
    line(text) {
      if (connected && socket !== undefined) {
        socket.write(frame(text));
        return;
      }
      if (pending.length < MAX_PENDING) pending.push(text);
      if (socket === undefined && Date.now() - lastAttempt >= RECONNECT_MS) open();
    },
    close() {
      socket?.end();
    },
  };
}
