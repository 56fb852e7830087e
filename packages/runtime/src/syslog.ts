// RFC 3164 syslog lines from pino's JSON records: what `log = syslog` sends, one datagram per record.
// The layout is pino-syslog's (`modern: false`, `messageOnly: true`, tz UTC), written here because
// pino-syslog publishes it only as a worker transport, not as a function of its public API.

/** syslog facility "daemon". */
export const DAEMON_FACILITY = 3;

/** pino level -> syslog severity (trace and debug are both debug; fatal is critical). */
const SEVERITY_OF_LEVEL: ReadonlyMap<number, number> = new Map([
  [10, 7],
  [20, 7],
  [30, 6],
  [40, 4],
  [50, 3],
  [60, 2],
]);
/** What pino-syslog gives a level it does not know (a custom level without a mapping): error. */
const UNKNOWN_LEVEL_SEVERITY = 3;

/** The syslog severity of a pino level (also the `<N>` of a journal line). */
export function syslogSeverity(level: number): number {
  return SEVERITY_OF_LEVEL.get(level) ?? UNKNOWN_LEVEL_SEVERITY;
}
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** RFC 3164's bound on a whole packet; the message is cut to fit after the header. */
const MAX_LINE = 1024;

/** The fields of a pino record that a syslog line shows. */
export interface SyslogRecord {
  level: number;
  /** Milliseconds since the epoch. */
  time: number;
  /** Shown as given (the daemons' records carry their process id). */
  pid?: unknown;
  hostname: string;
  msg: string;
}

/**
 * `<PRI>Mmm dd HH:MM:SS host app[pid]: msg`, the timestamp in UTC with the day padded by a space,
 * the host name up to its first dot, and `msg` cut so that the line stays within 1024 characters.
 */
export function formatRfc3164(record: SyslogRecord, options: { facility: number; appname: string }): string {
  const severity = syslogSeverity(record.level);
  const date = new Date(record.time);
  const day = String(date.getUTCDate()).padStart(2, " ");
  const clock = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    .map((part) => String(part).padStart(2, "0"))
    .join(":");
  const timestamp = `${MONTHS[date.getUTCMonth()]} ${day} ${clock}`;
  const host = record.hostname.split(".")[0];
  const header = `<${8 * options.facility + severity}>${timestamp} ${host} ${options.appname}[${String(record.pid)}]: `;
  return header + record.msg.slice(0, Math.max(0, MAX_LINE - header.length));
}
