// `net2banctl version`: the package version and the wire protocols this net2banctl speaks.
import type { CodecOptions } from "@net2ban/protocol";
import { EXIT_OK } from "@net2ban/runtime";
import type { CliIo, CommonArgs } from "./commands.js";

/** Every `protocol` a codec takes: `[server] protocol` may be any of them. */
export const PROTOCOL_VERSIONS = [1, 2] as const satisfies readonly CodecOptions["protocol"][];
// A protocol the codec learns and this list misses fails to compile here.
const listsEveryProtocol: [Exclude<CodecOptions["protocol"], (typeof PROTOCOL_VERSIONS)[number]>] extends [
  never,
]
  ? true
  : never = true;
void listsEveryProtocol;

export function runVersion(io: CliIo, args: CommonArgs, version: string): number {
  if (args.json) io.out(JSON.stringify({ name: "net2banctl", version, protocols: PROTOCOL_VERSIONS }));
  else io.out(`net2banctl ${version} (protocols ${PROTOCOL_VERSIONS.join(", ")})`);
  return EXIT_OK;
}
