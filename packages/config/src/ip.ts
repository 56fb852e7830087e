// Which IP family a text is, with node:net isIP's grammar (zone ids aside), without its regular
// expressions: node compiles its IPv6 expression on first use (~3 ms), which every net2banctl run paid
// when the guard read this host's addresses. ip.test.ts checks this against node:net isIP.

const V4_OCTET = /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;
const V6_GROUP = /^[0-9A-Fa-f]{1,4}$/;

function isV4(text: string): boolean {
  const octets = text.split(".");
  return octets.length === 4 && octets.every((octet) => V4_OCTET.test(octet));
}

/** Groups of one side of `::` (or of the whole address); an IPv4 tail counts as two. -1: not valid. */
function countGroups(side: string, mayEndInV4: boolean): number {
  if (side === "") return 0;
  const groups = side.split(":");
  let count = 0;
  for (const [i, group] of groups.entries()) {
    if (i === groups.length - 1 && mayEndInV4 && group.includes(".")) {
      if (!isV4(group)) return -1;
      count += 2;
    } else if (V6_GROUP.test(group)) count += 1;
    else return -1;
  }
  return count;
}

function isV6(text: string): boolean {
  const double = text.indexOf("::");
  if (double === -1) return countGroups(text, true) === 8;
  if (text.indexOf("::", double + 1) !== -1) return false;
  const left = countGroups(text.slice(0, double), false);
  const right = countGroups(text.slice(double + 2), true);
  // `::` stands for one zero group at least.
  return left !== -1 && right !== -1 && left + right <= 7;
}

/** 4 or 6 as node:net isIP says for `text`, 0 when it is neither; a zone id (`%eth0`) is never valid here. */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (typeof text !== "string" || text.length > 45) return 0;
  if (text.includes(":")) return isV6(text) ? 6 : 0;
  return isV4(text) ? 4 : 0;
}
