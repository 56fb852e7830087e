// net2banctl's side of the server's checks: refuse, before anything is sent, a param outside the policy
// or a ban that the server would drop anyway, and say which clients will not apply one that only their
// own ignoreip covers.
import { ParamPolicy } from "@net2ban/actions";
import {
  Allowlist,
  allowlistFor,
  allowParamsFor,
  type BanLike,
  checkBan,
  describeAllowParams,
  isUnban,
  type Net2banConfig,
  type ProtectedAddressesOptions,
  protectedAddresses,
} from "@net2ban/config";
import { UsageError } from "@net2ban/runtime";

/**
 * Throws UsageError (exit 2) naming the first param of `request` that the server's policy ([global] and
 * [server] allow_params; net2banctl sends with the server's config) would refuse.
 */
export function guardParams(config: Net2banConfig, request: BanLike & { file: string }): void {
  const policy = ParamPolicy.of(allowParamsFor(config, "server"), describeAllowParams("server"));
  const refusal = policy.refusal(request.file, request.params);
  if (refusal !== undefined) throw new UsageError(`${request.action}: ${refusal.message}`);
}

/**
 * Throws UsageError (exit 2) when `request` bans an address of [global]/[server] ignoreip, loopback,
 * the broker or this host, or when its `ip` is not an address; when only some of the clients it goes to
 * list the address in their own ignoreip, returns one note per such client (UsageError if that is
 * every one of them).
 */
export async function guardRequest(
  config: Net2banConfig,
  request: BanLike,
  to: readonly string[] | undefined,
  io: Pick<ProtectedAddressesOptions, "localAddresses" | "resolveHost"> & {
    warn?: (line: string) => void;
  } = {},
): Promise<string[]> {
  if (request.params["ip"] === undefined) return [];
  const { warn, ...lookups } = io;
  const defaults = await protectedAddresses({
    brokerUrls: [...config.broker.urls, ...(config.broker.ctlUrls ?? [])],
    ...lookups,
    ...(warn === undefined ? {} : { onWarning: warn }),
  });
  const refusal = checkBan(allowlistFor(config, "server").concat(defaults), request);
  if (refusal !== undefined) throw new UsageError(refusal.message);
  if (isUnban(request.action)) return [];
  const targets =
    to === undefined || to.length === 0 ? config.clients : config.clients.filter((c) => to.includes(c.name));
  const notes = targets.flatMap((client) => {
    const own = checkBan(Allowlist.of(`[${client.name}]`, config.ignoreIp[client.name] ?? []), request);
    return own === undefined ? [] : [`${own.message}; ${client.name} will not apply it`];
  });
  if (targets.length > 0 && notes.length === targets.length) {
    throw new UsageError(
      targets.length === 1 ? notes[0]! : `${notes[0]}, nor will any other client (each lists it in ignoreip)`,
    );
  }
  return notes;
}
