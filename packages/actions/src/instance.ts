// An action file bound to a message's caller options, as fail2ban builds a jail's CommandAction:
// ActionReader.getOptions/getCombined/convert on the client side, then the server's properties.

import { ConfigMiss, configGet, configGetCombined, ownOptions } from "./config-store.js";
import { parseFail2banDuration, pyNumberText } from "./duration.js";
import { ActionConfigError, ParamRefusedError } from "./errors.js";
import type { TicketAddress } from "./ipaddr.js";
import type { LoadedAction } from "./load.js";
import { COMMAND_ACTION_NAMES, DEFINITION_OPTIONS, validateParams } from "./params.js";
import { mark } from "./shell-context.js";
import { ESCAPED_TAGS, SHELL_SPECIAL_RE, substituteRecursiveTags } from "./tags.js";

/** A caller option whose value has shell specials: it travels as a marked spot, never inlined. */
export interface MarkedOption {
  readonly index: number;
  readonly name: string;
  readonly value: string;
}

/** What a fail2ban server would hold for this action in a jail, plus the ban ticket of the message. */
export interface ActionInstance {
  readonly action: LoadedAction;
  /** The jail name: the `name` param, else the file's [Init] name, else "default". */
  readonly jail: string;
  /** CommandAction._properties: every tag the operations may use (sorted, as dir() lists them). */
  readonly properties: ReadonlyMap<string, string>;
  readonly hasConditionalSection: boolean;
  /** actionstart runs per family at the first ban instead of at jail start. */
  readonly startOnDemand: boolean;
  /** Restored tickets are not banned again. */
  readonly norestored: boolean;
  readonly repairOnUnban: boolean;
  /** Seconds an operation may run (fail2ban's `timeout`, default 60). */
  readonly timeoutSeconds: number;
  /** Whether `timeout` came from the file or the message (else timeoutSeconds is fail2ban's default). */
  readonly timeoutConfigured: boolean;
  /** The `families` option split into words, if set. */
  readonly familiesOption: readonly string[] | undefined;
  readonly marked: readonly MarkedOption[];
  readonly ticket: Readonly<Record<string, string>>;
  readonly address: TicketAddress | undefined;
}

const BOOLEAN_OPTIONS = new Set(["actionstart_on_demand", "actionrepair_on_unban", "norestored"]);
const CONDITIONAL_KEY_RE = /^([\p{L}\p{N}_]+)(\?.+)$/u;
const FAMILY_KEY_RE = /^([\p{L}\p{N}_]+)\?(family)=(.*)$/u;
const TRUE_WORDS = new Set(["1", "on", "true", "yes"]);

// The properties a fresh CommandAction has before any option is set (clearAllParams + class attributes).
const BASE_PROPERTIES: ReadonlyArray<readonly [string, string]> = [
  ["ESCAPE_CRE", "re.compile('[\\\\\\\\#&;`|*?~<>\\\\^\\\\(\\\\)\\\\[\\\\]{}$\\'\"\\\\n\\\\r]')"],
  ["ESCAPE_VN_CRE", "re.compile('\\\\W')"],
  ["actionban", ""],
  ["actioncheck", ""],
  ["actionflush", ""],
  ["actionreban", ""],
  ["actionreload", ""],
  ["actionrepair", ""],
  ["actionstart", ""],
  ["actionstop", ""],
  ["actionunban", ""],
  ["banEpoch", "0"],
  ["timeout", "60"],
];

function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function splitWords(value: string): string[] {
  return value
    .split(/[ ,\n]+/)
    .map((w) => w.trim())
    .filter((w) => w !== "");
}

function jailName(action: LoadedAction, options: Readonly<Record<string, string>>): string {
  if (options.name !== undefined) return options.name;
  try {
    return configGet(action.config, "Init", "name");
  } catch (error) {
    if (error instanceof ConfigMiss || error instanceof ActionConfigError) return "default";
    throw error;
  }
}

/**
 * Binds `action` to message `params` exactly as fail2ban binds an action file to a jail's
 * `action = NAME[key=value, ...]`, with net2ban's limits: params may not replace [Definition]
 * options, and caller-option values with shell specials are marked (see render) instead of inlined.
 * `markAll` marks every caller option, plain words too: positions.ts uses it to see where each lands.
 * Throws ParamRefusedError or ActionConfigError; pure.
 */
export function bindAction(
  action: LoadedAction,
  params: Record<string, string>,
  binding: { markAll?: boolean } = {},
): ActionInstance {
  const { ticket, options, address } = validateParams(params);
  const { config } = action;
  const file = config.mainFile;
  if (!config.sections.has("Definition")) {
    throw new ActionConfigError(
      file,
      "[Definition]",
      "no [Definition] section (a helper file, not an action?)",
    );
  }
  // ActionReader.__init__: caller options, then name (the jail) and actname.
  const jail = jailName(action, options);
  const marked: MarkedOption[] = [];
  const initOpts = new Map<string, string>();
  for (const [key, value] of Object.entries(options)) {
    if ((binding.markAll === true && key !== "timeout") || SHELL_SPECIAL_RE.test(value)) {
      const index = marked.length;
      marked.push({ index, name: key, value });
      initOpts.set(key, mark(index));
    } else {
      initOpts.set(key, value);
    }
  }
  if (!initOpts.has("name")) initOpts.set("name", jail);
  if (!initOpts.has("actname")) initOpts.set("actname", action.name);
  const vars = new Map(initOpts);

  // DefinitionInitConfigReader.getOptions
  const opts = new Map<string, string>();
  for (const name of DEFINITION_OPTIONS) {
    if (vars.has(name)) continue;
    try {
      opts.set(name, configGet(config, "Definition", name, vars));
    } catch (error) {
      if (!(error instanceof ConfigMiss)) throw error;
    }
  }
  if (config.sections.has("Init")) {
    for (const option of ownOptions(config, "Init")) {
      let value: string | undefined;
      if (!option.startsWith("known/")) {
        value = configGet(config, "Init", option);
        initOpts.set(`known/${option}`, value);
      }
      if (!initOpts.has(option)) initOpts.set(option, value ?? configGet(config, "Init", option));
    }
  }

  // getCombined: resolve tags between Definition operations and [Init], conditionals left for later
  const combined = new Map(opts);
  for (const [key, value] of initOpts) combined.set(key, value);
  const ignore = new Set<string>([...ESCAPED_TAGS, "timeout", "bantime"]);
  for (const key of combined.keys()) {
    const conditional = CONDITIONAL_KEY_RE.exec(key);
    if (conditional) ignore.add(conditional[1]!);
  }
  const resolved = substituteRecursiveTags(combined, {
    ignore,
    lookup: (tag) => configGetCombined(config, "Definition", tag, vars),
    file,
  });

  // convert() + the server's setattr for each option
  const stream: Array<[string, string]> = [];
  for (const [key, value] of resolved) {
    if (!DEFINITION_OPTIONS.includes(key) || key.startsWith("known/")) continue;
    stream.push([
      key,
      BOOLEAN_OPTIONS.has(key) ? (TRUE_WORDS.has(value.toLowerCase()) ? "True" : "False") : value,
    ]);
  }
  for (const [key, value] of initOpts) {
    if (!DEFINITION_OPTIONS.includes(key) && !key.startsWith("known/")) stream.push([key, value]);
  }
  const properties = new Map(BASE_PROPERTIES);
  let timeoutSeconds = 60;
  let timeoutConfigured = false;
  for (const [key, value] of stream) {
    if (key === "bantime") continue;
    if (COMMAND_ACTION_NAMES.has(key)) {
      throw new ActionConfigError(file, key, "option name is reserved by fail2ban's CommandAction");
    }
    if (key.startsWith("_")) continue;
    if (key === "timeout") {
      const seconds = parseFail2banDuration(value);
      if (seconds === undefined || seconds.value <= 0) {
        const refusal = `not a duration fail2ban understands: ${JSON.stringify(value)}`;
        if (options.timeout !== undefined) throw new ParamRefusedError("timeout", refusal);
        throw new ActionConfigError(file, "timeout", refusal);
      }
      timeoutSeconds = seconds.value;
      timeoutConfigured = true;
      properties.set(key, pyNumberText(seconds));
      continue;
    }
    properties.set(key, value);
  }
  const sorted = new Map([...properties].sort(([a], [b]) => compareCodePoints(a, b)));

  const hasConditionalSection = [...sorted.keys()].some((key) => FAMILY_KEY_RE.test(key));
  const onDemand = sorted.get("actionstart_on_demand");
  const families = sorted.get("families");
  return {
    action,
    jail,
    properties: sorted,
    hasConditionalSection,
    startOnDemand: onDemand === undefined ? hasConditionalSection : onDemand === "True",
    norestored: sorted.get("norestored") === "True",
    repairOnUnban: sorted.get("actionrepair_on_unban") === "True",
    timeoutSeconds,
    timeoutConfigured,
    familiesOption: families ? splitWords(families) : undefined,
    marked,
    ticket,
    address,
  };
}

/** CommandAction._families: the families a start without a ticket covers. */
export function actionFamilies(instance: ActionInstance, ipv6: boolean): string[] {
  if (instance.familiesOption !== undefined && instance.familiesOption.length > 0)
    return [...instance.familiesOption];
  if (instance.hasConditionalSection) return ipv6 ? ["inet4", "inet6"] : ["inet4"];
  return [""];
}
