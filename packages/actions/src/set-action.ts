// net2ban's own keys of an action file that make it a set backend (fail2ban ignores them, as it ignores
// `actionprobe`): `actionset_type` (nftables or ipset), `actionset_target` (the set's name words per
// family), `actionset_batch` (the command that reads a transaction on stdin) and `actionset_list` (the
// command that lists the whole set). Each is rendered by the same code, tags and quoting as the
// action's own operations, through a copy of the action in which it plays `actionstart`.

import { ConfigMiss, configGet } from "./config-store.js";
import { ActionConfigError, ParamRefusedError } from "./errors.js";
import { bindAction } from "./instance.js";
import type { Family } from "./ipaddr.js";
import type { LoadedAction } from "./load.js";
import { assertOptionsAsData } from "./positions.js";
import {
  emptyTicketValues,
  finishCommand,
  type RenderedCommand,
  type RenderOptions,
  staticOperation,
} from "./render.js";
import { assertTargetWords, type SetBackend } from "./set-backend.js";
import { ipsetBackend } from "./set-ipset.js";
import { nftablesBackend } from "./set-nftables.js";
import { MARK_RE } from "./shell-context.js";
import { replaceDynamicTags } from "./tags.js";

export const SET_BACKENDS: ReadonlyMap<string, SetBackend> = new Map(
  [nftablesBackend, ipsetBackend].map((backend) => [backend.type, backend]),
);

type SetCommandKey = "actionset_target" | "actionset_batch" | "actionset_list";
const COMMAND_KEYS: readonly SetCommandKey[] = ["actionset_target", "actionset_batch", "actionset_list"];
const derived = new WeakMap<LoadedAction, Map<SetCommandKey, LoadedAction>>();

const backends = new WeakMap<LoadedAction, SetBackend | null>();

/** The backend an action names in `actionset_type`, undefined when it has none (a stock action). */
export function setBackendOf(action: LoadedAction): SetBackend | undefined {
  let backend = backends.get(action);
  if (backend === undefined) {
    backend = readBackend(action) ?? null;
    backends.set(action, backend);
  }
  return backend ?? undefined;
}

function readBackend(action: LoadedAction): SetBackend | undefined {
  let type: string;
  try {
    type = configGet(action.config, "Definition", "actionset_type").trim();
  } catch (error) {
    if (error instanceof ConfigMiss) return undefined;
    throw error;
  }
  if (type === "") return undefined;
  const backend = SET_BACKENDS.get(type);
  if (backend === undefined) {
    throw new ActionConfigError(
      action.config.mainFile,
      "actionset_type",
      `unknown set backend ${JSON.stringify(type)} (expected ${[...SET_BACKENDS.keys()].join(" or ")})`,
    );
  }
  for (const key of COMMAND_KEYS) {
    if (!action.config.sections.get("Definition")?.has(key)) {
      throw new ActionConfigError(action.config.mainFile, key, `missing: actionset_type = ${type} needs it`);
    }
  }
  return backend;
}

// The action with `key` (and its `key?family=...` variants) as its actionstart.
function derive(action: LoadedAction, key: SetCommandKey): LoadedAction {
  let byKey = derived.get(action);
  if (byKey === undefined) {
    byKey = new Map();
    derived.set(action, byKey);
  }
  const cached = byKey.get(key);
  if (cached !== undefined) return cached;
  const definition = action.config.sections.get("Definition")!;
  const replaced = new Map(definition);
  for (const name of definition.keys()) {
    if (name === "actionstart" || name.startsWith("actionstart?")) replaced.delete(name);
  }
  for (const [name, value] of definition) {
    if (name === key) replaced.set("actionstart", value);
    else if (name.startsWith(`${key}?`)) replaced.set(`actionstart${name.slice(key.length)}`, value);
  }
  const sections = new Map(action.config.sections);
  sections.set("Definition", replaced);
  const copy: LoadedAction = { ...action, config: { ...action.config, sections } };
  byKey.set(key, copy);
  return copy;
}

/**
 * A set-backend action bound to one jail's caller options: its set names and commands per family,
 * rendered and checked once for a whole batch. Throws ParamRefusedError (a caller option where a
 * program, a file or a batch line would take it) or ActionConfigError.
 */
export class BoundSetAction {
  readonly backend: SetBackend;
  readonly #action: LoadedAction;
  readonly #options: Record<string, string>;
  readonly #render: RenderOptions;
  readonly #cache = new Map<string, unknown>();

  constructor(
    action: LoadedAction,
    backend: SetBackend,
    options: Record<string, string>,
    render: RenderOptions,
  ) {
    this.backend = backend;
    this.#action = action;
    this.#options = options;
    this.#render = render;
    // the target is no shell command (assertTargetWords checks it); the two commands are
    for (const key of ["actionset_batch", "actionset_list"] as const) {
      assertOptionsAsData(derive(action, key), options, render.hostname);
    }
  }

  #static(key: SetCommandKey, family: Family): string {
    const instance = bindAction(derive(this.#action, key), this.#options);
    return staticOperation(instance, "actionstart", family, this.#render.hostname);
  }

  /** The set's name words for `family` (e.g. `inet f2b-table addr-set-sshd`), checked word by word. */
  target(family: Family): string {
    const memo = `target ${family}`;
    const cached = this.#cache.get(memo);
    if (typeof cached === "string") return cached;
    const instance = bindAction(derive(this.#action, "actionset_target"), this.#options);
    const text = staticOperation(instance, "actionstart", family, this.#render.hostname).trim();
    const marked = [...text.matchAll(MARK_RE)][0];
    if (marked !== undefined) {
      const name = instance.marked[Number(marked[1])]?.name ?? "actionset_target";
      throw new ParamRefusedError(
        name,
        "value has shell special characters and the set backend uses it in a batch line",
      );
    }
    assertTargetWords(text, this.backend.targetWords, this.#options);
    this.#cache.set(memo, text);
    return text;
  }

  /** `actionset_batch` (reads the transaction on stdin) or `actionset_list` for `family`, ready to run. */
  command(key: "actionset_batch" | "actionset_list", family: Family): Exclude<RenderedCommand, null> {
    const memo = `${key} ${family}`;
    const cached = this.#cache.get(memo);
    if (cached !== undefined) return cached as Exclude<RenderedCommand, null>;
    const instance = bindAction(derive(this.#action, key), this.#options);
    const script = this.#static(key, family);
    const dynamic = replaceDynamicTags(
      script,
      emptyTicketValues(instance, family, this.#render),
      this.#render.hostname,
    );
    const finished = finishCommand(instance, dynamic.script, dynamic.variables);
    if (finished === null) throw new ActionConfigError(this.#action.config.mainFile, key, "empty");
    this.#cache.set(memo, finished);
    return finished;
  }
}
