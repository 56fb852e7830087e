// The nftables set backend: elements of an `interval, timeout` set, added in one `nft -f -` transaction
// (atomic: all lines or none), listed with `nft -j list set`.

import { parseTicketAddress } from "./ipaddr.js";
import { assertBatchLine, type SetBackend, type SetElement } from "./set-backend.js";

// nft 1.0 reads a timeout as 32-bit milliseconds: 4294967 s (~49.7 days) is the longest it takes.
const NFT_MAX_TIMEOUT_SECONDS = 4_294_967;

function element(value: unknown): string | undefined {
  if (typeof value === "string") return parseTicketAddress(value)?.text;
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if ("elem" in record) return element((record.elem as Record<string, unknown> | null)?.val);
  const prefix = record.prefix as { addr?: unknown; len?: unknown } | undefined;
  if (prefix !== undefined && typeof prefix.addr === "string" && typeof prefix.len === "number") {
    return parseTicketAddress(`${prefix.addr}/${prefix.len}`)?.text;
  }
  // a range ({"range": [a, b]}) is no element net2ban adds: it matches no ban
  return undefined;
}

export const nftablesBackend: SetBackend = {
  type: "nftables",
  maxTimeoutSeconds: NFT_MAX_TIMEOUT_SECONDS,
  targetWords: 3,
  addLines(target: string, item: SetElement): string[] {
    const timeout = item.timeoutSeconds === undefined ? "" : ` timeout ${item.timeoutSeconds}s`;
    return [assertBatchLine(`add element ${target} { ${item.address.text}${timeout} }`, item)];
  },
  deleteLines(target: string, item: SetElement): string[] {
    // `delete element` of an absent element fails the whole transaction: adding it first makes it present
    return [
      assertBatchLine(`add element ${target} { ${item.address.text} }`, item),
      assertBatchLine(`delete element ${target} { ${item.address.text} }`, item),
    ];
  },
  parseListing(stdout: string): Set<string> {
    const found = new Set<string>();
    const parsed = JSON.parse(stdout) as { nftables?: Array<Record<string, unknown>> };
    for (const entry of parsed.nftables ?? []) {
      const set = entry.set as { elem?: unknown[] } | undefined;
      for (const item of set?.elem ?? []) {
        const text = element(item);
        if (text !== undefined) found.add(text);
      }
    }
    return found;
  },
};
