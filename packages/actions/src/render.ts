// Renders an operation of a bound action into the exact command fail2ban 1.0.2 would execute:
// CommandAction._getOperation / _processCmd / _executeOperation without the execution. Pure.

import { ParamRefusedError } from "./errors.js";
import { type ActionInstance, actionFamilies, bindAction } from "./instance.js";
import type { LoadedAction } from "./load.js";
import { MARK_RE, markContexts } from "./shell-context.js";
import {
  buildShellCommand,
  captureKey,
  type DynamicValues,
  type HostNames,
  replaceDynamicTags,
  replaceTag,
} from "./tags.js";

/**
 * What to execute, in the encoding of fail2ban-compat cases.json: a string is the script for
 * `/bin/sh -c`; an array is `/bin/sh -c script $0 $1 ...` (values passed as shell variables); null
 * means nothing runs.
 */
export type RenderedCommand = string | [script: string, ...args: string[]] | null;

/** One command, or several when an operation covers several address families (`{commands}` in cases.json). */
export type RenderedOperation = RenderedCommand | { commands: Array<Exclude<RenderedCommand, null>> };

export const OPERATIONS = [
  "actionstart",
  "actionstop",
  "actioncheck",
  "actionban",
  "actionunban",
  "actionflush",
  "actionreload",
  "actionrepair",
  "actionprolong",
  "actionreban",
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const TICKET_OPERATIONS: ReadonlySet<Operation> = new Set([
  "actionban",
  "actionunban",
  "actionprolong",
  "actionreban",
]);

export interface RenderOptions {
  /** `<fq-hostname>` and `<sh-hostname>`. */
  hostname: HostNames;
  /** Unix time in seconds (fractions allowed) for tickets without `time` and for `<time>` at start/stop. */
  now?: () => number;
  /** Whether IPv6 is usable: a family-conditional action starts for inet6 too (fail2ban checks the host). */
  ipv6?: boolean;
}

/** Python str() of time.time(): always a float. */
export function pyTimeText(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}.0` : String(seconds);
}

function nowText(options: RenderOptions): string {
  return pyTimeText(options.now ? options.now() : Date.now() / 1000);
}

/** CommandAction._getOperation: the operation with [Init] tags (family variants) and `<family>` filled. */
export function staticOperation(
  instance: ActionInstance,
  operation: Operation,
  family: string,
  hostname: HostNames,
): string {
  const file = instance.action.config.mainFile;
  const command = replaceTag(
    `<${operation}>`,
    instance.properties,
    family ? `family=${family}` : "",
    hostname,
    file,
  );
  if (!family || !command.includes("<")) return command;
  return replaceDynamicTags(command, { tags: new Map([["family", family]]), captures: new Map() }, hostname)
    .script;
}

/** The ticket of the message as Actions.ActionInfo presents it (values as strings). */
export function ticketValues(instance: ActionInstance, options: RenderOptions): DynamicValues {
  const { ticket, address } = instance;
  if (address === undefined) throw new ParamRefusedError("ip", "required for this operation");
  const matches = ticket.matches ?? "";
  const failures = ticket.failures ?? "0";
  const tags = new Map<string, string>([
    ["ip", address.text],
    ["family", address.family],
    ["ip-rev", address.reverse],
    ["ip-host", ticket["ip-host"] ?? "None"],
    ["fid", address.text],
    ["failures", failures],
    ["time", ticket.time ?? nowText(options)],
    ["bantime", ticket.bantime ?? "600"],
    ["bancount", ticket.bancount ?? "0"],
    ["matches", matches],
    ["restored", ticket.restored ?? "0"],
    ["ipmatches", ticket.ipmatches ?? matches],
    ["ipjailmatches", ticket.ipjailmatches ?? matches],
    ["ipfailures", ticket.ipfailures ?? failures],
    ["ipjailfailures", ticket.ipjailfailures ?? failures],
    ["jail.banned", ticket["jail.banned"] ?? "0"],
    ["jail.banned_total", ticket["jail.banned_total"] ?? "0"],
    ["jail.found", ticket["jail.found"] ?? "0"],
    ["jail.found_total", ticket["jail.found_total"] ?? "0"],
  ]);
  const captures = new Map<string, string>();
  for (const [key, value] of Object.entries(ticket)) {
    if (key.startsWith("F-")) captures.set(captureKey(key.slice(2)), value);
  }
  return { tags, captures };
}

/** The empty ticket start/stop/flush/reload see (`<ip>` empty, `<family>` the family started). */
export function emptyTicketValues(
  instance: ActionInstance,
  family: string,
  options: RenderOptions,
): DynamicValues {
  const { ticket } = instance;
  const tags = new Map<string, string>([
    ["ip", ""],
    ["family", family],
    ["ip-rev", ""],
    ["ip-host", "None"],
    ["fid", ""],
    ["failures", "0"],
    ["time", nowText(options)],
    ["bantime", ticket.bantime ?? "600"],
    ["bancount", "0"],
    ["matches", ""],
    ["restored", "0"],
    ["ipmatches", ""],
    ["ipjailmatches", ""],
    ["ipfailures", "0"],
    ["ipjailfailures", "0"],
    ["jail.banned", ticket["jail.banned"] ?? "0"],
    ["jail.banned_total", ticket["jail.banned_total"] ?? "0"],
    ["jail.found", ticket["jail.found"] ?? "0"],
    ["jail.found_total", ticket["jail.found_total"] ?? "0"],
  ]);
  return { tags, captures: new Map() };
}

/**
 * Turns a script (with ticket variables) into the command to run, replacing each marked caller
 * option by a shell variable `f2bV_O_<name>` where the shell reads it as data: `"${v}"` in a plain
 * word, `${v}` inside double quotes. A marked option anywhere else (single quotes, here-documents,
 * backquotes, after `\` or `$`) is refused.
 */
export function finishCommand(
  instance: ActionInstance,
  script: string,
  variables: ReadonlyArray<readonly [string, string]>,
): Exclude<RenderedCommand, null> | null {
  if (script === "") return null;
  if (instance.marked.length === 0 || !script.includes("\u0000")) return buildShellCommand(script, variables);
  // a value that ends up inside a tag name (`<ipt_<type>/x>`) would have named another tag in fail2ban
  for (const tag of script.matchAll(/<([^ <>]+)>/g)) {
    const inside = /\u0000(\d+)\u0000/.exec(tag[1]!);
    if (inside !== null) {
      throw new ParamRefusedError(
        instance.marked[Number(inside[1])]!.name,
        "value has shell special characters and the action uses it inside a tag name",
      );
    }
  }
  const contexts = markContexts(script);
  const names = new Map<number, string>();
  const taken = new Set(variables.map(([name]) => name));
  const optionVariables: Array<[string, string]> = [];
  for (const [index, list] of contexts) {
    const option = instance.marked[index]!;
    for (const context of list) {
      if (typeof context === "object") {
        throw new ParamRefusedError(
          option.name,
          `value has shell special characters and the action uses it where a shell variable cannot stand for it (${context.refused})`,
        );
      }
    }
    const variable = `f2bV_O_${option.name.replace(/[^A-Za-z0-9_]/g, "_")}`;
    if (taken.has(variable)) {
      throw new ParamRefusedError(
        option.name,
        `would share the shell variable ${variable} with another value`,
      );
    }
    taken.add(variable);
    names.set(index, variable);
    optionVariables.push([variable, option.value]);
  }
  const occurrence = new Map<number, number>();
  const finished = script.replace(MARK_RE, (_whole, digits: string) => {
    const index = Number(digits);
    const seen = occurrence.get(index) ?? 0;
    occurrence.set(index, seen + 1);
    const context = contexts.get(index)![seen]!;
    const variable = names.get(index)!;
    return context === "unquoted" ? `"\${${variable}}"` : `\${${variable}}`;
  });
  return buildShellCommand(finished, [...variables, ...optionVariables]);
}

function collect(commands: Array<Exclude<RenderedCommand, null> | null>): RenderedOperation {
  const present = commands.filter((c): c is Exclude<RenderedCommand, null> => c !== null);
  if (present.length === 0) return null;
  if (present.length === 1) return present[0]!;
  return { commands: present };
}

/** The families an operation without a ban ticket covers (those a start would have started). */
export function lifecycleFamilies(instance: ActionInstance, options: RenderOptions): string[] {
  if (instance.startOnDemand && instance.address !== undefined) return [instance.address.family];
  return actionFamilies(instance, options.ipv6 ?? true);
}

/** Renders one operation of an already bound action; see renderOperation. */
export function renderBound(
  instance: ActionInstance,
  operation: Operation,
  options: RenderOptions,
): RenderedOperation {
  const { hostname } = options;
  if (TICKET_OPERATIONS.has(operation)) {
    const values = ticketValues(instance, options);
    const family = instance.address!.family;
    const effective =
      operation === "actionreban" && !instance.properties.get("actionreban") ? "actionban" : operation;
    const file = instance.action.config.mainFile;
    const command = replaceTag(`<${effective}>`, instance.properties, `family=${family}`, hostname, file);
    const dynamic = replaceDynamicTags(command, values, hostname);
    return finishCommand(instance, dynamic.script, dynamic.variables);
  }
  if (operation === "actioncheck" || operation === "actionrepair") {
    const families = instance.address
      ? [instance.address.family]
      : actionFamilies(instance, options.ipv6 ?? true);
    const seen = new Set<string>();
    const out: Array<Exclude<RenderedCommand, null> | null> = [];
    for (const family of families) {
      const command = staticOperation(instance, operation, family, hostname);
      if (command === "" || seen.has(command)) continue;
      seen.add(command);
      out.push(finishCommand(instance, command, []));
    }
    return collect(out);
  }
  // start, stop, flush, reload: per family, skipping a command another family already ran
  const families =
    operation === "actionflush" && instance.address !== undefined
      ? [instance.address.family]
      : lifecycleFamilies(instance, options);
  const seen = new Set<string>();
  const out: Array<Exclude<RenderedCommand, null> | null> = [];
  for (const family of families) {
    const command = staticOperation(instance, operation, family, hostname);
    if (command === "" || seen.has(command)) continue;
    seen.add(command);
    const dynamic = replaceDynamicTags(command, emptyTicketValues(instance, family, options), hostname);
    out.push(finishCommand(instance, dynamic.script, dynamic.variables));
  }
  return collect(out);
}

/**
 * The command fail2ban 1.0.2 would execute for `operation` of `action` given the message `params`
 * (caller options and ticket values). Pure. Throws ParamRefusedError for a refused param and
 * ActionConfigError for an action fail2ban would reject.
 */
export function renderOperation(
  action: LoadedAction,
  operation: Operation,
  params: Record<string, string>,
  options: RenderOptions,
): RenderedOperation {
  const instance = bindAction(action, params);
  return renderBound(instance, operation, options);
}
