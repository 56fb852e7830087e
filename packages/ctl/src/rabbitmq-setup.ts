// `net2banctl rabbitmq-setup`: the RabbitMQ vhost, logins and permissions a fleet needs so that each
// role can do its job and nothing else, as rabbitmqctl commands to print or run, plus the config lines.
//
// Why named exchanges: write access to the default exchange lets a login publish to every queue of the
// vhost, so net2banctl publishes through a direct exchange bound to the input queue only, and agents
// publish through a topic exchange (the dead-letter one) where a topic permission limits each to its own
// `.dead` key and the server's results queue.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Net2banConfig } from "@net2ban/config";
import { UsageError } from "@net2ban/runtime";
import { writePrivateFile } from "./private-file.js";
import {
  DEFAULT_QUEUE_BOUNDS,
  policyCalls,
  type QueueBounds,
  type QueueBoundsInput,
  type QueuePolicy,
  queueBoundPolicies,
} from "./queue-bounds.js";

export type LoginRole = "server" | "ctl" | "agent" | "publisher";

/** RabbitMQ's three per-vhost regexes (rabbitmqctl set_permissions USER CONFIGURE WRITE READ). */
export interface Permissions {
  configure: string;
  write: string;
  read: string;
}

/** rabbitmqctl set_topic_permissions USER EXCHANGE WRITE READ (routing keys, for topic exchanges). */
export interface TopicPermission {
  exchange: string;
  write: string;
  read: string;
}

export interface PlannedLogin {
  role: LoginRole;
  /** The client section, for agents. */
  client?: string;
  /** NAME of `[publisher:NAME]`, for publishers. */
  publisher?: string;
  user: string;
  password: string;
  /** "config": user and password came from the config's URL for this role; else generated here. */
  passwordFrom: "config" | "generated";
  /** The URL(s) this role connects with: one per node of [global] url, comma-joined in the config. */
  urls: string[];
  permissions: Permissions;
  topicPermission?: TopicPermission;
}

/** One rabbitmqctl call; `stdin` carries a password so that it never shows in a process list. */
export interface RabbitmqctlCall {
  args: string[];
  stdin?: string;
}

export interface SetupPlan {
  vhost: string;
  inputExchange: string;
  deadLetterExchange: string;
  logins: PlannedLogin[];
  /** Length bounds of net2ban's queues (queue-bounds.ts). */
  policies: QueuePolicy[];
  /** The lines to add to net2ban.cfg, by section ("global", "server", client names). */
  configLines: Map<string, string[]>;
}

export interface SetupOptions {
  /** Default: the vhost of [global] url when it is not "/", else "net2ban". */
  vhost?: string | undefined;
  /** Login names are this prefix + role or client name (default "net2ban-"). */
  userPrefix?: string | undefined;
  /** A new random password (the CLI passes `generatePassword`). */
  randomPassword: () => string;
  /** Default DEFAULT_QUEUE_BOUNDS. */
  bounds?: QueueBoundsInput | undefined;
}

export const DEFAULT_USER_PREFIX = "net2ban-";
export const DEFAULT_VHOST = "net2ban";
export const DEFAULT_INPUT_EXCHANGE = "net2ban.input";
export const DEFAULT_DEAD_LETTER_EXCHANGE = "net2ban.dead";

/**
 * 24 random bytes in base64url (192 bits, 32 characters), never starting with "-": pasted into a
 * command line such a password would be read as an option. Redrawn rather than edited, so every
 * password that can come out is equally likely.
 */
export function generatePassword(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const password = random(24).toString("base64url");
    if (!password.startsWith("-")) return password;
  }
}

/** A regex over net2banctl's reply queues: `<queue_prefix>reply.` and a random UUID (wait.ts). */
export function replyQueuePattern(queuePrefix: string): string {
  return `${literal(queuePrefix)}reply\\.[0-9a-f-]{36}`;
}

/** A regex matching exactly this name (RabbitMQ uses PCRE-style regexes). */
export function literal(name: string): string {
  return name.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

function anyOf(patterns: readonly string[]): string {
  return `^(${patterns.join("|")})$`;
}

/** The login of a URL, if it names one other than guest (which must never be handed out). */
function loginOf(url: string | undefined): { user: string; password: string } | undefined {
  if (url === undefined) return undefined;
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  if (user === "" || password === "" || user === "guest") return undefined;
  return { user, password };
}

/** `url` with this login and vhost; scheme, host, port and query stay. */
function withLogin(url: string, user: string, password: string, vhost: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = encodeURIComponent(password);
  parsed.pathname = `/${encodeURIComponent(vhost)}`;
  return parsed.toString();
}

function vhostOf(url: string): string | undefined {
  const path = new URL(url).pathname;
  if (path === "" || path === "/") return undefined;
  const vhost = decodeURIComponent(path.slice(1));
  return vhost === "/" ? undefined : vhost;
}

/**
 * Works out every login, its permissions and its URL. Pure: passwords come from the config or from
 * `options.randomPassword`. Throws UsageError when the config cannot be split into least-privilege logins.
 */
export function planRabbitmqSetup(config: Net2banConfig, options: SetupOptions): SetupPlan {
  const server = config.server;
  if (server === undefined) {
    throw new UsageError(
      `${config.path}: [server] key: missing; rabbitmq-setup needs the server's config (all clients)`,
    );
  }
  const base = config.broker.urls;
  const vhost = options.vhost ?? vhostOf(base[0]!) ?? DEFAULT_VHOST;
  if (vhost === "") throw new UsageError("--vhost: must not be empty");
  const prefix = options.userPrefix ?? DEFAULT_USER_PREFIX;
  const inputExchange = config.broker.inputExchange ?? DEFAULT_INPUT_EXCHANGE;
  const deadLetterExchange = config.broker.deadLetterExchange ?? DEFAULT_DEAD_LETTER_EXCHANGE;

  const queues = [server.queue, ...config.clients.map((c) => c.queue)];
  for (const queue of queues) {
    // On a topic exchange a "*" or "#" word in a binding key matches other keys too.
    if (/(^|\.)[*#](\.|$)/.test(queue)) {
      throw new UsageError(
        `queue ${JSON.stringify(queue)}: a "*" or "#" between dots would let its .dead binding match other queues' dead letters; rename the client`,
      );
    }
  }
  const replyQueues = replyQueuePattern(config.queuePrefix);
  for (const queue of queues) {
    if (new RegExp(`^${replyQueues}$`).test(queue)) {
      throw new UsageError(
        `queue ${JSON.stringify(queue)}: it looks like a net2banctl reply queue, which net2banctl's login may read; rename the client`,
      );
    }
  }

  const input = literal(server.queue);
  const inputEx = literal(inputExchange);
  const deadEx = literal(deadLetterExchange);
  const agentQueues = `${literal(config.queuePrefix)}.*`;
  const results = literal(config.state.resultsQueue);

  const logins: PlannedLogin[] = [];
  const login = (
    role: LoginRole,
    fromConfig: string | undefined,
    name: string,
    permissions: Permissions,
    extra: { client?: string; publisher?: string; topicPermission?: TopicPermission } = {},
  ) => {
    const taken = loginOf(fromConfig);
    const user = taken?.user ?? `${prefix}${name}`;
    const password = taken?.password ?? options.randomPassword();
    const clash = logins.find((l) => l.user === user);
    if (clash !== undefined) {
      throw new UsageError(
        `login "${user}" would serve both ${clash.client ?? loginLabel(clash)} and ${extra.client ?? loginLabel({ role, ...extra })}: give each its own url (or none, to have one made)`,
      );
    }
    logins.push({
      role,
      ...extra,
      user,
      password,
      passwordFrom: taken === undefined ? "generated" : "config",
      urls: base.map((url) => withLogin(url, user, password, vhost)),
      permissions,
    });
  };

  login("server", server.urls?.[0] ?? base[0], "server", {
    // Its queues, every client's queue (also those added later under queue_prefix) and both exchanges.
    configure: anyOf([input, `${input}\\.dead`, agentQueues, inputEx, deadEx]),
    // amq.default: publishing to agents' queues, creating quorum queues (their dead-letter exchange is "");
    // queues: binding them; the dead-letter exchange: its own rejected requests.
    write: anyOf(["amq\\.default", input, `${input}\\.dead`, agentQueues, deadEx]),
    // The input queue to consume; exchanges to bind to; clients' queues (creating a quorum queue needs it).
    read: anyOf([input, agentQueues, inputEx, deadEx]),
  });
  // Its exclusive reply queue (ban|unban|exec --wait, status): declared and consumed, gone when it exits.
  login("ctl", config.broker.ctlUrls?.[0], "ctl", {
    configure: `^${replyQueues}$`,
    write: `^${inputEx}$`,
    read: `^${replyQueues}$`,
  });
  // Each publisher (a detection host): what net2banctl's login may do, under a login of its own, so that
  // revoking one (its section and its login) leaves the others working.
  for (const publisher of config.publishers) {
    login(
      "publisher",
      publisher.urls?.[0],
      `publisher-${publisher.name}`,
      { configure: `^${replyQueues}$`, write: `^${inputEx}$`, read: `^${replyQueues}$` },
      { publisher: publisher.name },
    );
  }
  for (const client of config.clients) {
    const queue = literal(client.queue);
    login(
      "agent",
      client.urls?.[0],
      client.name,
      { configure: anyOf([queue, `${queue}\\.dead`]), write: `^${deadEx}$`, read: `^${queue}$` },
      {
        client: client.name,
        // Its own dead letters, and its results and digests to the server's results queue (bound there
        // by the server): the default exchange would let it publish to every queue.
        topicPermission: {
          exchange: deadLetterExchange,
          write: anyOf([`${queue}\\.dead`, results]),
          read: "^$",
        },
      },
    );
  }

  const configLines = new Map<string, string[]>();
  const byRole = (role: LoginRole) => logins.find((l) => l.role === role)!;
  configLines.set("global", [
    `ctl_url = ${byRole("ctl").urls.join(", ")}`,
    `input_exchange = ${inputExchange}`,
    `dead_letter_exchange = ${deadLetterExchange}`,
  ]);
  configLines.set("server", [`url = ${byRole("server").urls.join(", ")}`]);
  for (const agent of logins.filter((l) => l.role === "agent")) {
    configLines.set(agent.client!, [`url = ${agent.urls.join(", ")}`]);
  }
  for (const publisher of logins.filter((l) => l.role === "publisher")) {
    configLines.set(`publisher:${publisher.publisher!}`, [`url = ${publisher.urls.join(", ")}`]);
  }
  const policies = queueBoundPolicies(config, { ...DEFAULT_QUEUE_BOUNDS, ...definedOnly(options.bounds) });
  return { vhost, inputExchange, deadLetterExchange, logins, policies, configLines };
}

/** Who a login serves, for comments and messages: `server`, `ctl`, `agent web1`, `publisher detect1`. */
function loginLabel(login: { role: LoginRole; client?: string; publisher?: string }): string {
  if (login.role === "agent") return `agent ${login.client}`;
  if (login.role === "publisher") return `publisher ${login.publisher}`;
  return login.role;
}

/** The bounds given, without the undefined ones (which keep their defaults). */
function definedOnly(bounds: QueueBoundsInput | undefined): Partial<QueueBounds> {
  return Object.fromEntries(Object.entries(bounds ?? {}).filter(([, value]) => value !== undefined));
}

function node(nodeName: string | undefined): string[] {
  return nodeName === undefined ? [] : ["-n", nodeName];
}

/** The rabbitmqctl calls for a plan, in order; creating or updating each login is decided at run time. */
export function permissionCalls(plan: SetupPlan, nodeName?: string): RabbitmqctlCall[] {
  const calls: RabbitmqctlCall[] = [];
  for (const login of plan.logins) {
    const { configure, write, read } = login.permissions;
    calls.push({
      args: [...node(nodeName), "set_permissions", "-p", plan.vhost, login.user, configure, write, read],
    });
    const topic = login.topicPermission;
    if (topic !== undefined) {
      calls.push({
        args: [
          ...node(nodeName),
          "set_topic_permissions",
          "-p",
          plan.vhost,
          login.user,
          topic.exchange,
          topic.write,
          topic.read,
        ],
      });
    }
  }
  return calls;
}

/** A word for sh, single-quoted unless it is plainly safe. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A shell script an operator can read and run as root on a broker node (idempotent). */
export function renderSetupScript(plan: SetupPlan, nodeName?: string): string[] {
  const ctl = ["rabbitmqctl", ...node(nodeName)].join(" ");
  const lines = [
    "#!/bin/sh",
    `# net2ban least privilege: vhost ${plan.vhost}, one login per role. Run as root on a RabbitMQ node.`,
    "# It holds passwords: keep it private (net2banctl rabbitmq-setup --output FILE writes mode 0600;",
    "# with > FILE, run umask 077 first) and delete it once it has run.",
    "# Passwords go through stdin (printf is a shell builtin), so they never show in a process list.",
    "set -eu",
    `existing=$(${ctl} -q list_users | cut -f1)`,
    "n2b_login() {",
    `  if printf '%s\\n' "$existing" | grep -qxF -- "$1"; then`,
    `    printf '%s' "$2" | ${ctl} change_password "$1"`,
    "  else",
    `    printf '%s' "$2" | ${ctl} add_user "$1"`,
    "  fi",
    "}",
    `${ctl} add_vhost ${shellQuote(plan.vhost)}`,
    "# queue bounds: work queues refuse publishes when full (nothing dropped), .dead queues drop the oldest",
    ...policyCalls(plan.vhost, plan.policies, nodeName).map((call) =>
      ["rabbitmqctl", ...call.args].map(shellQuote).join(" "),
    ),
  ];
  for (const login of plan.logins) {
    const who = loginLabel(login);
    lines.push(`# ${who}`, `n2b_login ${shellQuote(login.user)} ${shellQuote(login.password)}`);
    for (const call of permissionCalls({ ...plan, logins: [login] }, nodeName)) {
      lines.push(["rabbitmqctl", ...call.args].map(shellQuote).join(" "));
    }
  }
  return lines;
}

/** The config lines as INI text, section by section. */
export function renderConfigLines(plan: SetupPlan): string[] {
  const lines: string[] = [];
  for (const [section, entries] of plan.configLines) lines.push(`[${section}]`, ...entries);
  return lines;
}

export interface RabbitmqctlResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export type RabbitmqctlRunner = (call: RabbitmqctlCall) => Promise<RabbitmqctlResult>;

/** rabbitmqctl failed during --apply: names the step and quotes RabbitMQ's reply. */
export class RabbitmqSetupError extends Error {
  override name = "RabbitmqSetupError";
}

/**
 * Runs the plan through rabbitmqctl: the vhost, each login (created, or its password changed when it
 * exists: running it again is safe), its permissions. Reports one line per step.
 */
export async function applyRabbitmqSetup(
  plan: SetupPlan,
  run: RabbitmqctlRunner,
  report: (line: string) => void,
  nodeName?: string,
): Promise<void> {
  const step = async (what: string, call: RabbitmqctlCall): Promise<string> => {
    const result = await run(call);
    if (!result.ok) {
      const said = (result.stderr || result.stdout).trim().split("\n").filter(Boolean).at(-1) ?? "no output";
      throw new RabbitmqSetupError(`rabbitmq-setup: ${what} failed: ${said}`);
    }
    return result.stdout;
  };
  await step(`add_vhost ${plan.vhost}`, { args: [...node(nodeName), "add_vhost", plan.vhost] });
  report(`vhost ${plan.vhost}: ok`);
  for (const call of policyCalls(plan.vhost, plan.policies, nodeName)) {
    const name = call.args.at(-3)!;
    await step(`set_policy ${name}`, call);
    report(`policy ${name}: ok`);
  }
  const listed = await step("list_users", { args: [...node(nodeName), "-q", "list_users"] });
  const existing = new Set(listed.split("\n").map((line) => line.split("\t")[0]!.trim()));
  for (const login of plan.logins) {
    const verb = existing.has(login.user) ? "change_password" : "add_user";
    await step(`${verb} ${login.user}`, {
      args: [...node(nodeName), verb, login.user],
      stdin: login.password,
    });
    for (const call of permissionCalls({ ...plan, logins: [login] }, nodeName)) {
      await step(`${call.args.find((a) => a.startsWith("set_"))} ${login.user}`, call);
    }
    report(`login ${login.user} (${loginLabel(login)}): ok`);
  }
}

/** rabbitmqctl without a shell; the password, if any, on stdin. Never rejects. */
export function runRabbitmqctl(call: RabbitmqctlCall): Promise<RabbitmqctlResult> {
  return new Promise((resolve) => {
    const child = execFile("rabbitmqctl", call.args, { timeout: 120_000 }, (error, stdout, stderr) => {
      const missing = (error as NodeJS.ErrnoException | null)?.code === "ENOENT";
      resolve({
        ok: error === null,
        stdout,
        stderr: missing ? "rabbitmqctl not found: run this on a RabbitMQ node, as root" : stderr,
      });
    });
    child.stdin?.on("error", () => {});
    child.stdin?.end(call.stdin ?? "");
  });
}

export interface RabbitmqSetupArgs {
  apply?: boolean | undefined;
  json?: boolean | undefined;
  /** Write what holds passwords to this file (mode 0600) instead of standard output. */
  output?: string | undefined;
  /** Standard output is a file others may read (the CLI checks with fstat): say so. */
  stdoutReadableByOthers?: boolean | undefined;
  vhost?: string | undefined;
  userPrefix?: string | undefined;
  node?: string | undefined;
  bounds?: QueueBoundsInput | undefined;
}

/**
 * The `net2banctl rabbitmq-setup` command: prints an sh script (the config lines as comments at its end,
 * so the whole output runs as is), or with --apply runs it and prints the config lines. Both hold
 * passwords: with --output they go to that file, mode 0600. Exit code 0.
 */
export async function runRabbitmqSetup(
  io: { out: (line: string) => void; err: (line: string) => void },
  config: Net2banConfig,
  args: RabbitmqSetupArgs,
  run: RabbitmqctlRunner = runRabbitmqctl,
): Promise<number> {
  const plan = planRabbitmqSetup(config, {
    vhost: args.vhost,
    userPrefix: args.userPrefix,
    bounds: args.bounds,
    randomPassword: () => generatePassword(),
  });
  const script = renderSetupScript(plan, args.node);
  if (args.apply) await applyRabbitmqSetup(plan, run, args.json ? () => {} : io.out, args.node);
  const secret: string[] = [];
  if (args.json) {
    secret.push(
      JSON.stringify({
        vhost: plan.vhost,
        inputExchange: plan.inputExchange,
        deadLetterExchange: plan.deadLetterExchange,
        applied: args.apply === true,
        logins: plan.logins.map(({ password: _shownInUrls, ...login }) => login),
        policies: plan.policies,
        config: Object.fromEntries(plan.configLines),
        script,
      }),
    );
  } else {
    const advice = [
      `Add to ${config.path} (passwords appear only here), restart net2ban-server, then give each agent`,
      "its file again (net2banctl get_client NAME) and restart it. Start the server before the agents:",
      "it makes the exchanges and bindings the agents' logins may not.",
    ];
    if (args.apply) {
      secret.push("", ...advice.map((line) => `# ${line}`), ...renderConfigLines(plan));
    } else {
      secret.push(
        ...script,
        "",
        ...advice.map((line) => `# ${line}`),
        ...renderConfigLines(plan).map((line) => `#   ${line}`),
      );
    }
  }
  if (args.output !== undefined) {
    await writePrivateFile(args.output, `${secret.join("\n")}\n`);
    if (!args.json) io.out(`rabbitmq-setup: written to ${args.output} (mode 0600: it holds passwords)`);
    return 0;
  }
  if (args.stdoutReadableByOthers) {
    io.err(
      "net2banctl: warning: standard output is a file others may read, and this output holds passwords: use --output FILE (mode 0600), or umask 077 before redirecting",
    );
  }
  for (const line of secret) io.out(line);
  return 0;
}
