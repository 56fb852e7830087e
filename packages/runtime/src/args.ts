// Command-line options every net2ban daemon shares, parsed with yargs in-process (no process.exit).
import yargs, { type Argv } from "yargs";
import { UsageError } from "./cli-errors.js";
import type { DaemonArgs } from "./daemon.js";

export interface DaemonArgsSpec {
  script: string;
  description: string;
  /** What --version prints (packageVersion(import.meta.url) of the daemon's cli module). */
  version: string;
  examples: [string, string][];
  /** Extra string options (e.g. the agent's --name). */
  extra?: Record<string, string>;
}

export type ParsedDaemonArgs = DaemonArgs & Record<string, string | undefined>;

/** The yargs parser of a daemon's options; `columns` wraps the help (default: yargs', the terminal's up to 80). */
function daemonParser(argv: string[], spec: DaemonArgsSpec, columns?: number): Argv {
  let parser: Argv = yargs(argv)
    .scriptName(spec.script)
    .usage(`$0 [options]\n\n${spec.description}`)
    .option("config", {
      alias: "c",
      type: "string",
      describe:
        "config file (default: $NET2BAN_CONFIG, /etc/net2ban/net2ban.cfg, /usr/share/net2ban/net2ban.cfg)",
    })
    .option("log", {
      choices: ["stdout", "syslog", "journal"] as const,
      describe: "log target (default: `log` in the config)",
    })
    .option("log-format", {
      choices: ["json", "text"] as const,
      describe: "stdout lines (default: `log_format` in the config)",
    })
    .option("log-level", { type: "string", describe: "pino level: fatal, error, warn, info, debug, trace" })
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    })
    .help()
    .version(spec.version);
  if (columns !== undefined) parser = parser.wrap(columns);
  for (const [name, describe] of Object.entries(spec.extra ?? {})) {
    parser = parser.option(name, { type: "string", describe });
  }
  for (const [command, description] of spec.examples) parser = parser.example(command, description);
  return parser.showHelpOnFail(false);
}

/** The --help text of a daemon, wrapped at `columns` (docs/cli.md is generated from it). */
export function daemonHelp(spec: DaemonArgsSpec, columns: number): Promise<string> {
  return daemonParser([], spec, columns).getHelp();
}

/** Parses argv; returns undefined when --help or --version was printed, throws UsageError on bad usage. */
export async function parseDaemonArgs(
  argv: string[],
  spec: DaemonArgsSpec,
): Promise<ParsedDaemonArgs | undefined> {
  let printed = false;
  const parsed = await daemonParser(argv, spec).parseAsync(argv, {}, (error, _argv, output) => {
    if (output && !error) {
      printed = true;
      process.stdout.write(`${output}\n`);
    }
  });
  if (printed) return undefined;
  const result: ParsedDaemonArgs = {
    config: parsed["config"] as string | undefined,
    log: parsed["log"] as DaemonArgs["log"],
    logLevel: parsed["log-level"] as string | undefined,
    logFormat: parsed["log-format"] as DaemonArgs["logFormat"],
  };
  for (const name of Object.keys(spec.extra ?? {})) {
    const value = parsed[name];
    result[name] = typeof value === "string" ? value : undefined;
  }
  return result;
}
