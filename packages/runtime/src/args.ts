// Command-line options every net2ban daemon shares, parsed with yargs in-process (no process.exit).
import yargs from "yargs";
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

/** Parses argv; returns undefined when --help or --version was printed, throws UsageError on bad usage. */
export async function parseDaemonArgs(
  argv: string[],
  spec: DaemonArgsSpec,
): Promise<ParsedDaemonArgs | undefined> {
  let printed = false;
  let parser = yargs(argv)
    .scriptName(spec.script)
    .usage(`$0 [options]\n\n${spec.description}`)
    .option("config", {
      alias: "c",
      type: "string",
      describe:
        "config file (default: $NET2BAN_CONFIG, /etc/net2ban/net2ban.cfg, /usr/share/net2ban/net2ban.cfg)",
    })
    .option("log", {
      choices: ["stdout", "syslog"] as const,
      describe: "log target (default: `log` in the config)",
    })
    .option("log-level", { type: "string", describe: "pino level: fatal, error, warn, info, debug, trace" })
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    })
    .help()
    .version(spec.version);
  for (const [name, describe] of Object.entries(spec.extra ?? {})) {
    parser = parser.option(name, { type: "string", describe });
  }
  for (const [command, description] of spec.examples) parser = parser.example(command, description);
  parser = parser.showHelpOnFail(false);
  const parsed = await parser.parseAsync(argv, {}, (error, _argv, output) => {
    if (output && !error) {
      printed = true;
      process.stdout.write(`${output}\n`);
    }
  });
  if (printed) return undefined;
  const result: ParsedDaemonArgs = {
    config: parsed.config,
    log: parsed.log,
    logLevel: parsed["log-level"],
  };
  for (const name of Object.keys(spec.extra ?? {})) {
    const value = parsed[name];
    result[name] = typeof value === "string" ? value : undefined;
  }
  return result;
}
