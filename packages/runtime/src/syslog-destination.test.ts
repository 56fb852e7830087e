// log = syslog to syslog_address: a local UDP and TCP collector receive what rsyslog would.
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
import { parseSyslogAddress } from "./syslog-destination.js";

const host = hostname().split(".")[0];
const header = (pri: number) =>
  new RegExp(`^<${pri}>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${host} net2ban\\[${process.pid}\\]: `);

describe("syslog_address", () => {
  it("udp://: one datagram per record", async () => {
    const collector = createSocket("udp4");
    collector.bind(0, "127.0.0.1");
    await once(collector, "listening");
    const received: string[] = [];
    const two = new Promise<void>((resolve) => {
      collector.on("message", (data) => {
        received.push(data.toString("utf8"));
        if (received.length === 2) resolve();
      });
    });
    try {
      const logger = createLogger({
        target: "syslog",
        level: "info",
        component: "agent",
        syslogAddress: `udp://127.0.0.1:${collector.address().port}`,
      });
      logger.info("IP 203.0.113.9 banned");
      logger.error("e");
      await two;
      expect(received[0]).toMatch(header(30));
      expect(received[0]!.endsWith(": IP 203.0.113.9 banned")).toBe(true);
      expect(received[1]).toMatch(header(27));
    } finally {
      collector.close();
    }
  });

  it("tcp://: octet-counted frames, a line break in a message included", async () => {
    let data = "";
    let peer: Socket | undefined;
    const frames: string[] = [];
    let gotTwo: () => void = () => undefined;
    const two = new Promise<void>((resolve) => {
      gotTwo = resolve;
    });
    const server = createServer((socket) => {
      peer = socket;
      socket.on("data", (chunk) => {
        data += chunk.toString("utf8");
        // RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG, the length in bytes.
        for (;;) {
          const space = data.indexOf(" ");
          if (space === -1) break;
          const length = Number(data.slice(0, space));
          const bytes = Buffer.from(data.slice(space + 1), "utf8");
          if (bytes.length < length) break;
          frames.push(bytes.subarray(0, length).toString("utf8"));
          data = bytes.subarray(length).toString("utf8");
        }
        if (frames.length >= 2) gotTwo();
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      const logger = createLogger({
        target: "syslog",
        level: "info",
        component: "server",
        syslogAddress: `tcp://127.0.0.1:${port}`,
      });
      logger.warn("two\nlines ü");
      logger.info("Forwarding: exec/iptables-multiport");
      await two;
      expect(frames[0]).toMatch(header(28));
      expect(frames[0]!.endsWith(": two\nlines ü")).toBe(true);
      expect(frames[1]!.endsWith(": Forwarding: exec/iptables-multiport")).toBe(true);
    } finally {
      peer?.destroy();
      server.close();
    }
  });

  it("anything but udp:// or tcp:// is refused with one line", () => {
    expect(parseSyslogAddress("tcp://[::1]:6514")).toEqual({ transport: "tcp", host: "::1", port: 6514 });
    expect(parseSyslogAddress("udp://logs.example")).toEqual({
      transport: "udp",
      host: "logs.example",
      port: 514,
    });
    expect(() => parseSyslogAddress("/dev/log")).toThrow(
      'syslog_address: expected udp://host:port or tcp://host:port, got "/dev/log"',
    );
  });
});
