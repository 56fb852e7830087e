// The original's `net2banctl get_client`: the net2ban.cfg one client needs, and nothing of the
// server's or the other clients' secrets.

import { basename } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { assertObject, assertString } from "./assert.js";
import { ConfigError } from "./errors.js";
import { type IniEntry, interpolate } from "./ini.js";
import { clientConfig, type Net2banConfig, parseConfig } from "./resolve.js";
import { CONFIG_KEYS, isConfigKey, type SectionKind } from "./schema.js";

/**
 * Writes `[global]` (with `mode = client`), `[keygen]` and the client's own section, keeping the
 * source's key order and raw values. Two things differ from a plain copy, both so that the file
 * stands alone: [DEFAULT] entries a section relies on are written into it, and a value holding
 * `%(name)s` is written expanded. Other logins stay out: `ctl_url` is never written, and when the
 * client has its own `url`, [global] url becomes that one (the server's login is not the client's
 * business). The result is re-read and must give the client the same settings.
 *
 * A client without a `url` of its own gets the file's shared login ([global] `url` or `server`),
 * which may be one with rights over every queue. Where the file gives roles their own logins
 * (`ctl_url`, `[server] url` or another client's `url`, as `net2banctl rabbitmq-setup` writes them),
 * that shared login is another role's, so the export is refused; otherwise `warn` is told, once.
 */
export function exportClientConfig(
  config: Net2banConfig,
  clientName: string,
  options: { warn?: (line: string) => void } = {},
): string {
  assertObject(config, "config");
  assertString(clientName, "clientName");
  const client = clientConfig(config, clientName);
  const { document } = config;
  const display = basename(config.path) || config.path;
  if (client.urls === undefined) checkSharedLogin(config, client.name, display, options.warn);

  const expand = (section: string, key: string, entry: IniEntry): string => {
    if (!entry.value.includes("%(")) return entry.value;
    const lookup = (name: string) =>
      name === "__name__"
        ? section
        : (document.sections.get(section)?.entries.get(name)?.value ?? document.defaults.get(name)?.value);
    return interpolate(entry.value, lookup, { fileName: basename(config.path) || config.path, section, key });
  };

  // Keys of [global] written with another value than the source's (mode) or left out (logins).
  const globalOverrides = new Map<string, string | null>([
    ["mode", "client"],
    ["ctl_url", null],
  ]);
  if (client.urls !== undefined) globalOverrides.set("url", client.urls.join(", "));

  const writeSection = (name: string, kind: SectionKind, extra: Map<string, string> = new Map()): string => {
    const lines = [`[${name}]`];
    const own = document.sections.get(name)?.entries ?? new Map<string, IniEntry>();
    const write = (key: string, value: string) => {
      const [first, ...rest] = value.split("\n");
      lines.push(`${key} = ${first ?? ""}`, ...rest.map((line) => `    ${line}`));
    };
    const writeEntry = (key: string, entry: IniEntry) => {
      const override = kind === "global" ? globalOverrides.get(key) : undefined;
      if (override === null) return;
      write(key, override ?? expand(name, key, entry));
    };
    for (const [key, entry] of own) writeEntry(key, entry);
    // [DEFAULT] is not exported (it may hold the server's key): copy in what this section reads from it.
    for (const [key, entry] of document.defaults) {
      if (own.has(key) || !isConfigKey(key) || !CONFIG_KEYS[key].sections.includes(kind)) continue;
      writeEntry(key, entry);
    }
    for (const [key, value] of extra) if (!own.has(key) && !document.defaults.has(key)) write(key, value);
    return `${lines.join("\n")}\n`;
  };

  const text = [
    writeSection(
      "global",
      "global",
      new Map([
        ["mode", "client"],
        ...(client.urls === undefined ? [] : [["url", client.urls.join(", ")] as const]),
      ]),
    ),
    writeSection("keygen", "keygen", new Map([["keylen", String(config.keygenLength)]])),
    writeSection(client.name, "client"),
  ].join("\n");

  // A value that cannot be written back as it was read (e.g. one ending in " ;x" after expansion)
  // would silently give the client other keys; refuse instead.
  const reread = parseConfig(text, config.path).config;
  const { ctlUrls: _publisherLogin, ...expectedBroker } = {
    ...config.broker,
    urls: client.urls ?? config.broker.urls,
  };
  const same =
    isDeepStrictEqual(clientConfig(reread, client.name), client) &&
    isDeepStrictEqual(reread.broker, expectedBroker) &&
    reread.mode === "client";
  if (!same) {
    throw new ConfigError([`${display}: [${client.name}]: cannot be exported faithfully; check its values`]);
  }
  return text;
}

/** Refuses (role logins in use) or warns about handing `name` the file's shared broker login. */
function checkSharedLogin(
  config: Net2banConfig,
  name: string,
  display: string,
  warn: ((line: string) => void) | undefined,
): void {
  const roleLogins = [
    ...(config.broker.ctlUrls === undefined ? [] : ["ctl_url"]),
    ...(config.server?.urls === undefined ? [] : ["[server] url"]),
    ...config.clients.filter((c) => c.name !== name && c.urls !== undefined).map((c) => `[${c.name}] url`),
  ];
  if (roleLogins.length > 0) {
    throw new ConfigError([
      `${display}: [${name}] url: missing; the file gives roles their own logins (${roleLogins.slice(0, 3).join(", ")}${roleLogins.length > 3 ? ", ..." : ""}), so the shared [global] login is not ${name}'s to have: add its own url (net2banctl rabbitmq-setup prints it)`,
    ]);
  }
  warn?.(
    `${display}: [${name}] has no url of its own: the export carries the login every peer shares ([global] url or server); give each client its own (net2banctl rabbitmq-setup)`,
  );
}
