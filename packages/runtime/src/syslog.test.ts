// RFC 3164 lines: the expected strings are what pino-syslog 4.0.0's rfc3164 builder (modern: false,
// messageOnly: true, facility 3, appname net2ban, tz UTC) printed for the same records.
import { hostname } from "node:os";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, createSyslogFormatter } from "./logger.js";
import { DAEMON_FACILITY, formatRfc3164 } from "./syslog.js";

const options = { facility: DAEMON_FACILITY, appname: "net2ban" };
const record = { pid: 42, hostname: "web1.example.org", msg: "m ü" };

describe("formatRfc3164", () => {
  it.each([
    [10, 0, "<31>Jan  1 00:00:00 web1 net2ban[42]: m ü"],
    [20, 1700000000000, "<31>Nov 14 22:13:20 web1 net2ban[42]: m ü"],
    [30, 1704067200000, "<30>Jan  1 00:00:00 web1 net2ban[42]: m ü"],
    [40, 1709251199999, "<28>Feb 29 23:59:59 web1 net2ban[42]: m ü"],
    [50, 1733616000123, "<27>Dec  8 00:00:00 web1 net2ban[42]: m ü"],
    [60, 946684800000, "<26>Jan  1 00:00:00 web1 net2ban[42]: m ü"],
  ])("level %i at %i ms", (level, time, line) => {
    expect(formatRfc3164({ level, time, ...record }, options)).toBe(line);
  });

  it("a level pino-syslog has no mapping for is sent as error", () => {
    expect(formatRfc3164({ level: 35, time: 0, ...record }, options)).toBe(
      "<27>Jan  1 00:00:00 web1 net2ban[42]: m ü",
    );
  });

  it("cuts the message so that the line stays within 1024 characters", () => {
    const line = formatRfc3164({ level: 30, time: 0, pid: 7, hostname: "h", msg: "y".repeat(2000) }, options);
    expect(line).toHaveLength(1024);
    expect(line.startsWith("<30>Jan  1 00:00:00 h net2ban[7]: yyy")).toBe(true);
  });
});

describe("createSyslogFormatter", () => {
  it("formats the daemons' pino lines: message only, no component, no redacted fields", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString("utf8").trim());
        done();
      },
    });
    const logger = createLogger({ target: "syslog", level: "info", component: "agent", destination });
    logger.info("IP 203.0.113.9 banned");
    logger.warn({ key: "secret" }, 'File "x" updated');
    // The destination gets the lines as they are sent.
    const formatted = lines.map((line) =>
      line.replace(/^(<\d+>)[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /, "$1"),
    );
    // The daemons' records carry this process's id and the host name (up to its first dot).
    const host = hostname().split(".")[0];
    expect(formatted).toEqual([
      `<30>${host} net2ban[${process.pid}]: IP 203.0.113.9 banned`,
      `<28>${host} net2ban[${process.pid}]: File "x" updated`,
    ]);
  });

  it("sends an empty message for a record whose msg is not a string", () => {
    expect(
      createSyslogFormatter()(JSON.stringify({ level: 30, time: 0, pid: 1, hostname: "h", msg: 5 })),
    ).toBe("<30>Jan  1 00:00:00 h net2ban[1]: ");
  });
});
