// Where a message's options land in an action's commands: an option the action uses as the program to
// run or as a file to redirect to is refused, whatever the operator allowed, so a value can never pick
// a program or a file written.

import { ParamRefusedError } from "./errors.js";
import { bindAction } from "./instance.js";
import type { LoadedAction } from "./load.js";
import { DEFAULT_MESSAGE_OPTIONS } from "./param-policy.js";
import { classifyParams } from "./params.js";
import { OPERATIONS, staticOperation } from "./render.js";
import { markContexts } from "./shell-context.js";
import type { HostNames } from "./tags.js";

// Positions depend on the action file and on which options are set, not on their values: the answer is
// kept per loaded file (a changed file is a new LoadedAction) and set of option names.
const verdicts = new WeakMap<LoadedAction, Map<string, ParamRefusedError | null>>();

/**
 * Throws ParamRefusedError naming the first caller option of `params` that some operation of `action`
 * (any family) uses as a command word or a redirection target. Every option is bound as a marked spot
 * (bindAction's markAll) and each operation's command is scanned the way /bin/sh reads it.
 */
export function assertOptionsAsData(
  action: LoadedAction,
  params: Readonly<Record<string, string>>,
  hostname: HostNames,
): void {
  const { options } = classifyParams({ ...params });
  const names = Object.keys(options).sort();
  if (names.length === 0) return;
  const key = names.join("\u0000");
  let cache = verdicts.get(action);
  if (cache === undefined) {
    cache = new Map();
    verdicts.set(action, cache);
  }
  let verdict = cache.get(key);
  if (verdict === undefined) {
    verdict = findCodePosition(action, options, hostname) ?? null;
    cache.set(key, verdict);
  }
  if (verdict !== null) throw verdict;
}

function findCodePosition(
  action: LoadedAction,
  options: Record<string, string>,
  hostname: HostNames,
): ParamRefusedError | undefined {
  // The values do not matter once marked; plain placeholders keep bindAction's own value checks quiet.
  const placeholders = Object.fromEntries(
    Object.keys(options).map((name) => [name, name === "timeout" ? "1" : "x"]),
  );
  const instance = bindAction(action, placeholders, { markAll: true });
  const families = instance.hasConditionalSection ? ["inet4", "inet6"] : [""];
  for (const operation of OPERATIONS) {
    for (const family of families) {
      // Tags left after the static pass are the ticket's (`<ip>`, `<family>`, ...): data words, which must
      // not read as redirections; a tag that holds an option keeps the option's spot.
      const script = staticOperation(instance, operation, family, hostname).replace(
        /<([^ <>]+)>/g,
        (_whole, inner: string) => (inner.includes("\u0000") ? inner : "tag"),
      );
      for (const [index, contexts] of markContexts(script)) {
        for (const context of contexts) {
          if (typeof context === "object" && context.position !== undefined) {
            const name = instance.marked[index]?.name ?? "?";
            // A default option's grammar has no "/": after a directory the action names itself, it only
            // completes a file name there (iptables-xt_recent-echo: /proc/net/xt_recent/f2b-<name>).
            if (
              context.position === "redirect" &&
              DEFAULT_MESSAGE_OPTIONS.includes(name) &&
              /^["']?\//.test(context.prefix ?? "")
            ) {
              continue;
            }
            return new ParamRefusedError(
              name,
              `${action.name} uses it ${context.refused} in ${operation}: a message may not choose a program or a file`,
            );
          }
        }
      }
    }
  }
  return undefined;
}
