// stdout lines: journald's `<N>` priority prefix (when stdout is the journal or log = journal) and the
// text format. journald is not running here, so its rule is acted out: a line that starts with `<D>`,
// D a digit 0-7, has priority D and the rest is the message (systemd journald-stream.c, SyslogLevelPrefix=).
import { fstatSync } from "node:fs";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { formatTextLine, journalPrefix, stdoutIsJournal } from "./log-lines.js";
import { createLogger } from "./logger.js";

/** What journald makes of one stdout line: its priority (6, info, without a prefix) and message. */
function journaldReads(line: string): { priority: number; message: string } {
  const match = /^<([0-7])>/.exec(line);
  return match === null
    ? { priority: 6, message: line }
    : { priority: Number(match[1]), message: line.slice(3) };
}

function capture(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString("utf8")
          .split("\n")
          .filter((l) => l !== ""),
      );
      done();
    },
  });
  return { lines, destination };
}

function logEveryLevel(options: Parameters<typeof createLogger>[0]): void {
  const logger = createLogger(options);
  logger.debug("d");
  logger.info("IP 203.0.113.9 banned");
  logger.warn({ reason: "stale" }, "message rejected");
  logger.error("e");
  logger.fatal("f");
}

describe("the journal's priority prefix", () => {
  it("log = journal: journald files each line under its level, the message is pino's JSON", () => {
    const { lines, destination } = capture();
    logEveryLevel({ target: "journal", level: "debug", component: "agent", destination, env: {} });
    const read = lines.map(journaldReads);
    expect(read.map((r) => r.priority)).toEqual([7, 6, 4, 3, 2]);
    const records = read.map((r) => JSON.parse(r.message) as Record<string, unknown>);
    expect(records[2]).toMatchObject({
      level: 40,
      msg: "message rejected",
      reason: "stale",
      component: "agent",
    });
  });

  it("log = stdout: the prefix only when JOURNAL_STREAM names the stream stdout is", () => {
    const { dev, ino } = fstatSync(1);
    const journal = capture();
    logEveryLevel({
      target: "stdout",
      level: "debug",
      component: "agent",
      destination: journal.destination,
      env: { JOURNAL_STREAM: `${dev}:${ino}` },
    });
    expect(journal.lines.map((l) => journaldReads(l).priority)).toEqual([7, 6, 4, 3, 2]);
    // Inherited by a process whose stdout is elsewhere (a pipe, a file): plain JSON.
    const elsewhere = capture();
    logEveryLevel({
      target: "stdout",
      level: "debug",
      component: "agent",
      destination: elsewhere.destination,
      env: { JOURNAL_STREAM: `${dev}:${Number(ino) + 1}` },
    });
    expect(elsewhere.lines.every((line) => line.startsWith("{"))).toBe(true);
  });

  it("stdoutIsJournal compares JOURNAL_STREAM with stdout's device and inode", () => {
    const stat = () => ({ dev: 25, ino: 4711 });
    expect(stdoutIsJournal({ JOURNAL_STREAM: "25:4711" }, stat)).toBe(true);
    expect(stdoutIsJournal({ JOURNAL_STREAM: "25:4712" }, stat)).toBe(false);
    expect(stdoutIsJournal({ JOURNAL_STREAM: "junk" }, stat)).toBe(false);
    expect(stdoutIsJournal({}, stat)).toBe(false);
    expect(
      stdoutIsJournal({ JOURNAL_STREAM: "25:4711" }, () => {
        throw new Error("EBADF");
      }),
    ).toBe(false);
  });

  it("maps pino's levels as syslog does (trace and debug 7, info 6, warn 4, error 3, fatal 2)", () => {
    for (const [level, prefix] of [
      [10, "<7>"],
      [20, "<7>"],
      [30, "<6>"],
      [40, "<4>"],
      [50, "<3>"],
      [60, "<2>"],
    ] as const) {
      expect(journalPrefix(JSON.stringify({ level }))).toBe(prefix);
    }
  });
});

describe("log_format = text", () => {
  it("one line per record: time, level, message, then the fields as key=value", () => {
    expect(
      formatTextLine(
        JSON.stringify({
          level: 40,
          time: 1_765_156_267_123,
          pid: 812,
          hostname: "web1",
          component: "agent",
          client: "web1",
          reason: "sent at 12:00, now stale",
          count: 3,
          detail: { code: 2 },
          msg: "message rejected",
        }),
      ),
    ).toBe(
      '2025-12-08T01:11:07.123Z WARN message rejected component=agent client=web1 reason="sent at 12:00, now stale" count=3 detail={"code":2}',
    );
  });

  it("a line break in a message or a value stays on the one line", () => {
    const line = formatTextLine(JSON.stringify({ level: 30, time: 0, msg: "a\nb", stderr: "x\ny" }));
    expect(line).toBe('1970-01-01T00:00:00.000Z INFO a\\nb stderr="x\\ny"');
  });

  it("under the journal, text lines get the prefix too", () => {
    const { lines, destination } = capture();
    const logger = createLogger({
      target: "journal",
      format: "text",
      level: "info",
      component: "server",
      destination,
    });
    logger.warn({ clients: 2 }, "Forwarding: exec/iptables-multiport");
    expect(lines).toHaveLength(1);
    expect(journaldReads(lines[0]!)).toEqual({
      priority: 4,
      message: expect.stringMatching(
        /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN Forwarding: exec\/iptables-multiport component=server clients=2$/,
      ),
    });
  });
});
