// net2banctl with every command and --help, parsed by yargs. `run` in main.ts sends exec/ban/unban
// without loading this file (yargs costs more start-up time than the whole send); the rest come here.
import { existsSync } from "node:fs";
import type { Net2banMessage } from "@net2ban/protocol";
import {
  describeError,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeFor,
  packageVersion,
  UsageError,
} from "@net2ban/runtime";
import yargs, { type Argv } from "yargs";
import {
  banRequestSpec,
  buildRequest,
  type CliIo,
  genRandom,
  parseParams,
  print,
  publishRequest,
  readConfig,
  readUpdate,
  sendExec,
  senderName,
  toList,
} from "./commands.js";
import { escapeControls } from "./terminal-text.js";

export type { CliIo } from "./commands.js";

// The bundle (dist/net2banctl.cjs), dist/cli.js and src/cli.ts all sit one directory below package.json.
const VERSION = packageVersion(import.meta.url);

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function commonOptions<T>(y: Argv<T>) {
  return y
    .option("config", {
      alias: "c",
      type: "string",
      describe:
        "config file (default: $NET2BAN_CONFIG, /etc/net2ban/net2ban.cfg, /usr/share/net2ban/net2ban.cfg)",
    })
    .option("json", { type: "boolean", describe: "machine-readable output" });
}

/**
 * Runs net2banctl with `argv` through yargs (every command, --help); resolves with the exit code.
 * `columns` wraps --help (default: the terminal's, at most 110); docs/cli.md is generated with a fixed one.
 */
export async function runFull(
  argv: string[],
  io: CliIo = defaultIo,
  options: { columns?: number } = {},
): Promise<number> {
  let exitCode = EXIT_OK;
  let action: (() => Promise<number>) | undefined;
  const parser = commonOptions(yargs(argv))
    .scriptName("net2banctl")
    .usage(
      "$0 <command> [options]\n\nSends ban decisions to every net2ban agent and manages the fleet's config.",
    )
    .command(
      ["gen-random", "gen_random"],
      "print a random key of [keygen] keylen characters",
      (y) =>
        y.option("length", { type: "number", describe: "characters (default: [keygen] keylen, else 40)" }),
      (a) => {
        action = async () => {
          let length = a.length;
          if (length === undefined) {
            const haveConfig =
              a.config !== undefined || process.env["NET2BAN_CONFIG"] !== undefined || configExists();
            length = haveConfig ? (await readConfig(a)).keygenLength : 40;
          }
          io.out(genRandom(length));
          return EXIT_OK;
        };
      },
    )
    .command(
      ["list-clients", "list_clients"],
      "list the clients of the config",
      (y) => y,
      (a) => {
        action = async () => {
          const config = await readConfig(a);
          const names = config.clients.map((c) => c.name);
          if (a.json) io.out(JSON.stringify(names));
          else for (const name of names) io.out(name);
          return EXIT_OK;
        };
      },
    )
    .command(
      ["get-client <name>", "get_client <name>"],
      "print the config file of one client (global, keygen and its own section only)",
      (y) => y.positional("name", { type: "string", demandOption: true }),
      (a) => {
        action = async () => {
          const { exportClientConfig } = await import("@net2ban/config");
          const text = exportClientConfig(await readConfig(a), a.name, {
            warn: (line) => io.err(`net2banctl: warning: ${line}`),
          });
          io.out(text.replace(/\n$/, ""));
          return EXIT_OK;
        };
      },
    )
    .command(
      ["get-publisher <name>", "get_publisher <name>"],
      "print the config file of one publisher: its own key and login, nothing of the server's or clients'",
      (y) => y.positional("name", { type: "string", demandOption: true }),
      (a) => {
        action = async () => {
          const { exportPublisherConfig } = await import("@net2ban/config");
          const text = exportPublisherConfig(await readConfig(a), a.name, {
            warn: (line) => io.err(`net2banctl: warning: ${line}`),
          });
          io.out(text.replace(/\n$/, ""));
          return EXIT_OK;
        };
      },
    )
    .command(
      "exec <file> <action> [params..]",
      "run an action of an action file on every agent (params: key=value)",
      (y) =>
        y
          .positional("file", {
            type: "string",
            demandOption: true,
            describe: "action file name, e.g. iptables-multiport",
          })
          .positional("action", {
            type: "string",
            demandOption: true,
            describe: "actionban, actionunban, actionstart, ...",
          })
          .positional("params", { type: "string", array: true, describe: "key=value" })
          .option("to", toOption("only these clients (comma-separated or repeated)"))
          .options(waitOptions)
          .example("$0 exec iptables-multiport actionban name=sshd ip=203.0.113.9", "ban on every host")
          .example(
            "$0 exec iptables-multiport actionban name=sshd ip=203.0.113.9 bantime=600",
            "with bantime (as fail2ban sends it): kept in the server's ledger for 10 minutes",
          ),
      (a) => {
        const request = { file: a.file, action: a.action, params: parseParams(a.params ?? []) };
        const label = `exec/${a.file} ${a.action}`;
        action = async () => {
          if (a.wait !== true && a.timeout === undefined) {
            return sendExec(io, { ...a, to: toList(a.to) }, request, label);
          }
          const { sendExecAndWait } = await import("./ban.js");
          return sendExecAndWait(io, { ...a, to: toList(a.to) }, request, label);
        };
      },
    )
    .command(
      "ban <ip> [params..]",
      "ban an address on every agent, kept in the server's ledger until it ends",
      (y) =>
        y
          .positional("ip", { type: "string", demandOption: true, describe: "IPv4/IPv6 address or CIDR" })
          .positional("params", {
            type: "string",
            array: true,
            describe: "extra key=value params for the action",
          })
          .option("action", { type: "string", default: "iptables-multiport", describe: "action file" })
          .option("name", { type: "string", default: "default", describe: "jail name (the action's <name>)" })
          .option("to", toOption("only these clients (comma-separated or repeated)"))
          .option("for", {
            type: "string",
            describe: "how long: 90s, 10m, 1h, 1d, 1h30m or permanent (default: the server's bantime)",
          })
          .options(waitOptions)
          .example("$0 ban 203.0.113.9", "ban with iptables-multiport on every host for the server's bantime")
          .example("$0 ban 203.0.113.9 --for 1h --wait", "for an hour; show each host's confirmation"),
      (a) => {
        banRequestSpec("ban", a.ip, { actionFile: a.action, name: a.name, params: {} });
        action = async () => {
          const { sendBan } = await import("./ban.js");
          return sendBan(
            io,
            { ...a, to: toList(a.to) },
            { ip: a.ip, actionFile: a.action, name: a.name, params: parseParams(a.params ?? []) },
          );
        };
      },
    )
    .command(
      "unban <ip> [params..]",
      "lift the bans of an address on every agent and remove them from the server's ledger",
      (y) =>
        y
          .positional("ip", { type: "string", demandOption: true, describe: "IPv4/IPv6 address or CIDR" })
          .positional("params", {
            type: "string",
            array: true,
            describe: "protocol 1 only: key=value params",
          })
          .option("action", { type: "string", describe: "only the bans of this action file" })
          .option("name", { type: "string", describe: "only the bans of this jail name" })
          .option("publisher", {
            type: "string",
            describe: "lift only this publisher's hold (the address stays banned while others hold it)",
          })
          .option("to", toOption("protocol 1 only: only these clients"))
          .options(waitOptions)
          .example("$0 unban 203.0.113.9", "every ban of the address, on every host")
          .example("$0 unban 203.0.113.9 --publisher detect1", "detect1's hold only")
          .example(
            "$0 unban 203.0.113.9 --action nftables --name sshd --wait",
            "only that one; confirmations",
          ),
      (a) => {
        banRequestSpec("unban", a.ip, { actionFile: a.action ?? "", name: a.name ?? "", params: {} });
        action = async () => {
          const { sendUnban } = await import("./ban.js");
          return sendUnban(
            io,
            { ...a, to: toList(a.to) },
            {
              ip: a.ip,
              actionFile: a.action,
              name: a.name,
              params: parseParams(a.params ?? []),
              holder: a.publisher,
            },
          );
        };
      },
    )
    .command(
      "status [ip]",
      "the server's active bans: when each ends and, per host, applied / failed / pending",
      (y) =>
        y
          .positional("ip", { type: "string", describe: "only the bans of this address" })
          .option("timeout", { type: "string", describe: "how long to wait for the server (default 10s)" })
          .example("$0 status", "every active ban")
          .example("$0 status 203.0.113.9 --json", "one address, as JSON"),
      (a) => {
        action = async () => {
          const { runStatus } = await import("./status.js");
          return runStatus(io, a);
        };
      },
    )
    .command(
      "update <client> <file>",
      "send an action file to one client (comments stripped, as the original)",
      (y) =>
        y
          .positional("client", { type: "string", demandOption: true })
          .positional("file", { type: "string", demandOption: true })
          .example(
            "$0 update client1 /usr/share/net2ban/actions/iptables-multiport.conf",
            "install an action on client1",
          ),
      (a) => {
        action = async () => {
          const config = await readConfig(a);
          const { clientConfig } = await import("@net2ban/config");
          clientConfig(config, a.client);
          const { file, content } = await readUpdate(a.file);
          const { createUpdateRequest } = await import("@net2ban/protocol");
          const message = buildRequest(`update/${file}`, () =>
            createUpdateRequest({ file, content, client: a.client, sender: senderName() }),
          );
          await publishRequest(config, message as Net2banMessage);
          print(
            io,
            a,
            { id: message.id, sent: `update/${file}`, client: a.client },
            `update/${file}: sent to ${a.client}`,
          );
          return EXIT_OK;
        };
      },
    )
    .command(
      "rabbitmq-setup",
      "print (or --apply through rabbitmqctl) the vhost, one login per role and least-privilege permissions",
      (y) =>
        y
          .option("apply", { type: "boolean", describe: "run it through rabbitmqctl now (as root)" })
          .option("vhost", { type: "string", describe: "default: [global] url's vhost, else net2ban" })
          .option("user-prefix", { type: "string", describe: "login name prefix (default net2ban-)" })
          .option("node", { type: "string", describe: "RabbitMQ node for rabbitmqctl -n" })
          .option("queue-max-length", {
            type: "number",
            describe: "most messages in each work queue; full: publishes refused (default 1000000)",
          })
          .option("queue-max-bytes", {
            type: "number",
            describe: "most bytes in each work queue (default 1 GiB)",
          })
          .option("dead-max-length", {
            type: "number",
            describe: "most messages in each .dead queue; full: the oldest dropped (default 10000)",
          })
          .option("dead-max-bytes", {
            type: "number",
            describe: "most bytes in each .dead queue (default 64 MiB)",
          })
          .option("output", {
            alias: "o",
            type: "string",
            describe: "write the output, which holds passwords, to this file with mode 0600",
          })
          .example("$0 rabbitmq-setup -o setup.sh", "review, run as root on the broker, then delete it")
          .example("$0 rabbitmq-setup --apply", "run it now and print the config lines to add")
          .epilogue(
            "The output holds passwords. Under the usual umask 022, '> file' makes a file everyone can read: use --output (mode 0600) or 'umask 077' first.",
          ),
      (a) => {
        action = async () => {
          const [{ runRabbitmqSetup }, { fileReadableByOthers }] = await Promise.all([
            import("./rabbitmq-setup.js"),
            import("./private-file.js"),
          ]);
          return runRabbitmqSetup(io, await readConfig(a), {
            ...a,
            userPrefix: a["user-prefix"],
            bounds: {
              maxLength: a["queue-max-length"],
              maxBytes: a["queue-max-bytes"],
              deadMaxLength: a["dead-max-length"],
              deadMaxBytes: a["dead-max-bytes"],
            },
            stdoutReadableByOthers: a.output === undefined && fileReadableByOthers(1),
          });
        };
      },
    )
    .command(
      "check-config",
      "validate the config, then ask the broker which nodes answer and each queue's type (exit 2 on error)",
      (y) =>
        y
          .option("offline", { type: "boolean", describe: "check the file only, not the broker" })
          .option("strict", {
            type: "boolean",
            describe: "exit 3 (one line) when no node of the broker answers, for monitoring",
          })
          .example("$0 check-config", "the file, every node, and each queue's type against queue_type")
          .example("$0 check-config --strict", "as a monitoring check: non-zero when the broker is down"),
      (a) => {
        action = async () => {
          const { loadConfig, ConfigError } = await import("@net2ban/config");
          try {
            const { config, warnings } = await loadConfig(
              a.config === undefined ? { env: process.env } : { path: a.config, env: process.env },
            );
            for (const warning of warnings) io.err(`warning: ${warning}`);
            const summary = `${config.path}: ok (mode ${config.mode}, ${config.clients.length} clients, broker ${config.broker.urls.length} node(s))`;
            const report = {
              ok: true,
              path: config.path,
              clients: config.clients.map((c) => c.name),
              warnings,
            };
            if (a.offline) {
              print(io, a, report, summary);
              return EXIT_OK;
            }
            const { checkBroker } = await import("./check-broker.js");
            return await checkBroker(io, config, {
              json: a.json === true,
              strict: a.strict === true,
              report,
              summary,
            });
          } catch (error) {
            if (error instanceof ConfigError) {
              for (const warning of error.warnings) io.err(`warning: ${warning}`);
              for (const line of error.errors) io.err(line);
              if (a.json)
                io.out(JSON.stringify({ ok: false, errors: error.errors, warnings: error.warnings }));
              return EXIT_USAGE;
            }
            throw error;
          }
        };
      },
    )
    .command(
      "render <file> <operation> [params..]",
      "print what an agent would run for an operation, without running it",
      (y) =>
        y
          .positional("file", { type: "string", demandOption: true })
          .positional("operation", { type: "string", demandOption: true })
          .positional("params", { type: "string", array: true })
          .option("actions-dir", {
            type: "string",
            describe: "action files (default: actions_dir of the config)",
          })
          .example(
            "$0 render iptables-multiport actionban name=sshd ip=203.0.113.9 --actions-dir /etc/fail2ban/action.d",
            "dry run",
          )
          .example("$0 render nftables actionban ip=2001:db8::1 --json", 'as {"command": ...}'),
      (a) => {
        action = async () => {
          let actionsDir = a["actions-dir"];
          const { ParamPolicy, renderForCli } = await import("@net2ban/actions");
          let policy = ParamPolicy.DEFAULT;
          // With --actions-dir no config is needed; when one is given or found, its policy is shown.
          if (actionsDir === undefined || a.config !== undefined) {
            const config = await readConfig(a);
            actionsDir ??= config.actionsDirs.find((dir) => existsSync(dir)) ?? config.actionsDirs[0];
            const { allowParamsFor, describeAllowParams } = await import("@net2ban/config");
            policy = ParamPolicy.of(allowParamsFor(config, "server"), describeAllowParams("server"));
          }
          const params = parseParams(a.params ?? []);
          const rendered = renderForCli(actionsDir ?? "", a.file, a.operation, params, { policy });
          if (a.json) io.out(JSON.stringify(rendered));
          else printRendered(io, rendered.command);
          if (rendered.refused !== undefined && !a.json) {
            io.err(`net2banctl: note: sent as a message, this is refused: ${rendered.refused}`);
          }
          return EXIT_OK;
        };
      },
    )
    .command(
      "version",
      "print net2banctl's version and the protocol versions it speaks",
      (y) => y.example("$0 version --json", '{"name":"net2banctl","version":...,"protocols":[1,2]}'),
      (a) => {
        action = async () => {
          const { runVersion } = await import("./version.js");
          return runVersion(io, a, VERSION);
        };
      },
    )
    .completion(
      "completion",
      "print a bash completion script (add it to ~/.bashrc or /etc/bash_completion.d)",
    )
    .demandCommand(1, "give a command; see net2banctl --help")
    .strict()
    .recommendCommands()
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    })
    .help()
    .version(VERSION)
    .wrap(options.columns ?? Math.min(110, process.stdout.columns || 80));

  try {
    let printed = false;
    await parser.parseAsync(argv, {}, (error, _args, output) => {
      if (output && !error) {
        printed = true;
        io.out(output);
      }
    });
    if (printed || action === undefined) return EXIT_OK;
    exitCode = await action();
  } catch (error) {
    for (const line of describeError(error)) io.err(`net2banctl: ${escapeControls(line)}`);
    exitCode = error instanceof UsageError ? EXIT_USAGE : exitCodeFor(error);
  }
  return exitCode;
}

type Rendered = ReturnType<typeof import("@net2ban/actions").renderForCli>["command"];

/** A rendered operation for a terminal: the script, then the values passed as $0, $1, ... */
function printRendered(io: CliIo, command: Rendered): void {
  if (command === null) io.out("(nothing to run)");
  else if (typeof command === "string") io.out(command);
  else if (Array.isArray(command)) {
    const [script, ...values] = command;
    io.out(script);
    values.forEach((value, i) => {
      io.out(`  $${i} = ${JSON.stringify(value)}`);
    });
  } else {
    for (const one of command.commands) printRendered(io, one);
  }
}

/**
 * `--to` of exec, ban and unban. Not an array option: yargs would read every following word into it,
 * so `ban --to web1 203.0.113.9` lost its address; repeated, yargs still gathers the values into an array.
 */
function toOption(describe: string) {
  return { type: "string", describe } as const;
}

/** --wait and --timeout of ban, unban and exec. */
const waitOptions = {
  wait: {
    type: "boolean",
    describe: "show each host's confirmation as it arrives; exit 0 only if every host confirmed",
  },
  timeout: { type: "string", describe: "how long --wait waits for the hosts (default 10s)" },
} as const;

function configExists(): boolean {
  return existsSync("/etc/net2ban/net2ban.cfg") || existsSync("/usr/share/net2ban/net2ban.cfg");
}
