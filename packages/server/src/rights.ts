// What each publisher ([publisher:NAME]) may ask: its commands, action files, operations, target clients,
// longest ban and bans per minute, judged on every request sealed with its key before anything else
// happens to it. The [server] key (the operator's net2banctl) is not judged here: it may ask anything.
import type { PublisherConfig, PublisherRights } from "@net2ban/config";
import type { Net2banMessage } from "@net2ban/protocol";

/** Which right a request lacks, and the one line that says so (logged, and sent to a --wait caller). */
export interface RightRefusal {
  right: "commands" | "actions" | "operations" | "to" | "max_bantime" | "rate";
  message: string;
}

function listed(values: readonly string[] | "*"): string {
  return values === "*" ? "*" : values.join(", ");
}

function allows(values: readonly string[] | "*", value: string): boolean {
  return values === "*" || values.includes(value);
}

/**
 * The command a request counts as. fail2ban's action sends `exec actionban` / `exec actionunban`: those are
 * a ban and an unban (the server keeps them in the ledger), so `exec` alone never lets a publisher ban.
 */
export function commandOf(message: Net2banMessage): PublisherRights["commands"][number] | undefined {
  switch (message.cmd) {
    case "ban":
    case "unban":
    case "update":
    case "status":
      return message.cmd;
    case "exec":
      if (message.action === "actionban") return "ban";
      if (message.action === "actionunban") return "unban";
      return "exec";
    default:
      return undefined;
  }
}

/** The seconds a ban request asks for: null for no end; undefined: the server's bantime. */
function askedBanTime(message: Net2banMessage): number | null | undefined {
  if (message.cmd === "ban") return message.duration;
  if (message.cmd === "exec" && message.action === "actionban") {
    const raw = message.params["bantime"];
    // Without a bantime fail2ban's exec is forwarded as is and never lifted by the server: no end.
    if (raw === undefined || !/^-?[0-9]+$/.test(raw) || Number(raw) === 0) return null;
    return Number(raw) < 0 ? null : Number(raw);
  }
  return undefined;
}

/**
 * The first right of `publisher` that `message` lacks, or undefined. `defaultBanTimeSeconds` is the
 * server's bantime (what a ban without a duration lasts).
 */
export function rightsRefusal(
  publisher: PublisherConfig,
  message: Net2banMessage,
  defaultBanTimeSeconds: number | null,
): RightRefusal | undefined {
  const { rights } = publisher;
  const section = `[publisher:${publisher.name}]`;
  const who = `publisher ${publisher.name}`;
  const command = commandOf(message);
  if (command === undefined || !rights.commands.includes(command)) {
    return {
      right: "commands",
      message: `${who} may not send ${command ?? message.cmd} (${section} commands = ${rights.commands.join(", ")})`,
    };
  }
  if (message.cmd === "exec" && !allows(rights.operations, message.action)) {
    return {
      right: "operations",
      message: `${who} may not run ${message.action} (${section} operations = ${listed(rights.operations)})`,
    };
  }
  const file = "file" in message ? message.file : undefined;
  if (file !== undefined && !allows(rights.actions, file)) {
    return {
      right: "actions",
      message: `${who} may not use action file ${file} (${section} actions = ${listed(rights.actions)})`,
    };
  }
  const targets = message.cmd === "update" ? [message.client] : "to" in message ? message.to : undefined;
  const outside = targets?.find((name) => !allows(rights.to, name));
  if (outside !== undefined) {
    return {
      right: "to",
      message: `${who} may not reach ${outside} (${section} to = ${listed(rights.to)})`,
    };
  }
  if (command === "ban" && rights.maxBanTimeSeconds !== undefined && rights.maxBanTimeSeconds !== null) {
    const asked = askedBanTime(message);
    const seconds = asked === undefined ? defaultBanTimeSeconds : asked;
    if (seconds === null || seconds > rights.maxBanTimeSeconds) {
      return {
        right: "max_bantime",
        message: `${who} may not ban for ${seconds === null ? "ever" : `${seconds}s`} (${section} max_bantime = ${rights.maxBanTimeSeconds}s)`,
      };
    }
  }
  return undefined;
}

/** Per publisher, the bans it may still ask for this minute: a bucket of `rate` refilled over 60 s. */
export class BanRate {
  readonly #buckets = new Map<string, { rate: number; tokens: number; at: number }>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Takes one ban of `publisher`'s rate; a refusal when its bans this minute are used up. */
  take(publisher: PublisherConfig): RightRefusal | undefined {
    const rate = publisher.rights.ratePerMinute;
    if (rate === undefined) return undefined;
    const now = this.#now();
    let bucket = this.#buckets.get(publisher.name);
    if (bucket === undefined || bucket.rate !== rate) {
      bucket = { rate, tokens: rate, at: now };
      this.#buckets.set(publisher.name, bucket);
    }
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 60_000) * rate);
    bucket.at = now;
    if (bucket.tokens < 1) {
      return {
        right: "rate",
        message: `publisher ${publisher.name} asked for more than ${rate} bans per minute ([publisher:${publisher.name}] rate = ${rate})`,
      };
    }
    bucket.tokens -= 1;
    return undefined;
  }

  /** Drops the buckets of publishers no longer configured. */
  keep(names: ReadonlySet<string>): void {
    for (const name of this.#buckets.keys()) if (!names.has(name)) this.#buckets.delete(name);
  }
}
