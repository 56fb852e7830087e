// The ipset backend: hash:net sets created with timeout support, filled by `ipset restore -exist` (line
// by line: lines before a bad one stay applied), listed with `ipset save`.

import { parseTicketAddress } from "./ipaddr.js";
import { assertBatchLine, type SetBackend, type SetElement } from "./set-backend.js";

// ipset refuses timeouts above 2147483 s (~24.8 days); 0 means permanent in a set with timeout support.
const IPSET_MAX_TIMEOUT_SECONDS = 2_147_483;

export const ipsetBackend: SetBackend = {
  type: "ipset",
  maxTimeoutSeconds: IPSET_MAX_TIMEOUT_SECONDS,
  targetWords: 1,
  addLines(target: string, item: SetElement): string[] {
    return [assertBatchLine(`add ${target} ${item.address.text} timeout ${item.timeoutSeconds ?? 0}`, item)];
  },
  deleteLines(target: string, item: SetElement): string[] {
    // `ipset restore -exist` makes the delete of an absent element a no-op
    return [assertBatchLine(`del ${target} ${item.address.text}`, item)];
  },
  parseListing(stdout: string): Set<string> {
    const found = new Set<string>();
    for (const line of stdout.split("\n")) {
      const words = line.trim().split(/\s+/);
      if (words[0] !== "add" || words[2] === undefined) continue;
      const text = parseTicketAddress(words[2])?.text;
      if (text !== undefined) found.add(text);
    }
    return found;
  },
};
