// What a set backend is: the transaction lines that add and delete ban elements of a kernel set and
// the parser of its listing. The lines are read by nft or ipset, not by /bin/sh, and hold only
// validated words: the parsed address, integers and the set's name words checked here.

import { ParamRefusedError } from "./errors.js";
import type { TicketAddress } from "./ipaddr.js";

/** One element to add or delete: the parsed address, and for an add its timeout (undefined: permanent). */
export interface SetElement {
  readonly address: TicketAddress;
  /** Whole seconds the kernel keeps the element; undefined for a permanent ban. */
  readonly timeoutSeconds?: number | undefined;
}

export interface SetBackend {
  /** The `actionset_type` value that picks it. */
  readonly type: string;
  /** The longest timeout the kernel side accepts; longer bans get this one (drift repair renews them). */
  readonly maxTimeoutSeconds: number;
  /** How many name words `actionset_target` renders to (nft: family, table, set; ipset: set). */
  readonly targetWords: number;
  /** Transaction lines that add (or refresh) `element` in the set `target`. */
  addLines(target: string, element: SetElement): string[];
  /** Transaction lines that delete `element`, also when it is absent (nothing fails then). */
  deleteLines(target: string, element: SetElement): string[];
  /** The canonical addresses (TicketAddress.text) of a listing made by `actionset_list`. */
  parseListing(stdout: string): Set<string>;
}

// Words nft and ipset read as a plain name: no blank, `;`, `#`, braces, quotes, `$` or `@`.
const NAME_WORD_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const ADDRESS_RE = /^[0-9a-f.:]+(\/[0-9]{1,3})?$/;
// Every character a finished line may hold (names, addresses, integers, nft's braces and `s`).
const LINE_RE = /^[A-Za-z0-9_.:/{} -]+$/;

/**
 * Checks the rendered `actionset_target` of an action: `words` name words. Throws ParamRefusedError
 * naming the caller option whose value put anything else there (else `actionset_target`).
 */
export function assertTargetWords(
  target: string,
  words: number,
  options: Readonly<Record<string, string>>,
): void {
  const parts = target.split(" ");
  const bad = parts.length !== words ? target : parts.find((word) => !NAME_WORD_RE.test(word));
  if (bad === undefined) return;
  const culprit = Object.entries(options).find(([, value]) => value !== "" && bad.includes(value));
  throw new ParamRefusedError(
    culprit?.[0] ?? "actionset_target",
    `the set backend's batch line would hold ${JSON.stringify(bad)}: expected ${words} name word(s) of A-Z a-z 0-9 _ . - (a transaction line takes validated words only)`,
  );
}

/** A line as the backend built it: refused (ParamRefusedError naming it) if it holds anything else. */
export function assertBatchLine(line: string, element: SetElement): string {
  if (!ADDRESS_RE.test(element.address.text) || !LINE_RE.test(line)) {
    throw new ParamRefusedError("ip", `batch line refused: ${JSON.stringify(line)}`);
  }
  return line;
}

/**
 * Seconds the element should live: what is left of the ban (`time` + `bantime` - now, rounded up, at
 * most `max`), undefined for a permanent ban (bantime < 0), "over" when nothing is left. `time`
 * defaults to now and `bantime` to 600, as the ticket's tags do.
 */
export function remainingTimeout(
  ticket: Readonly<Record<string, string>>,
  nowSeconds: number,
  max: number,
): number | undefined | "over" {
  const bantime = Number(ticket.bantime ?? "600");
  if (bantime < 0) return undefined;
  const start = ticket.time === undefined ? nowSeconds : Number(ticket.time);
  const left = Math.ceil(start + bantime - nowSeconds);
  if (left <= 0) return "over";
  return Math.min(left, max);
}
