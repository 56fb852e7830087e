// `net2banctl get_publisher NAME`: the net2ban.cfg a detection host (or any other sender) needs to send
// under its own key, and nothing of the server's, the clients' or the other publishers' secrets.

import { basename } from "node:path";
import { assertObject, assertString } from "./assert.js";
import { ConfigError } from "./errors.js";
import { type Net2banConfig, parseConfig, publisherConfig } from "./resolve.js";
import { PUBLISHER_SECTION_PREFIX } from "./schema.js";

/** A value written on one line that the INI reader gives back unchanged. */
function writable(value: string): boolean {
  return !/[\r\n]/.test(value) && value.trim() === value && !value.includes("%") && !/\s[;#]/.test(value);
}

/**
 * Writes `[global]` (`mode = publisher`, the broker, `queue_prefix` for --wait's reply queues) and the
 * publisher's section with its key, the shared key material as it resolves for it, and the server's input
 * queue. The login is the publisher's own `url`; without one, the file's shared login, and only when the
 * file gives no role a login of its own (else the export is refused: that login is someone else's). The
 * rights stay on the server, which checks them. The result is re-read and must give the same keys.
 */
export function exportPublisherConfig(
  config: Net2banConfig,
  name: string,
  options: { warn?: (line: string) => void } = {},
): string {
  assertObject(config, "config");
  assertString(name, "name");
  const publisher = publisherConfig(config, name);
  const display = basename(config.path) || config.path;
  const section = `${PUBLISHER_SECTION_PREFIX}${publisher.name}`;
  if (publisher.urls === undefined) {
    const roleLogins = [
      ...(config.broker.ctlUrls === undefined ? [] : ["ctl_url"]),
      ...(config.server?.urls === undefined ? [] : ["[server] url"]),
      ...config.clients.filter((c) => c.urls !== undefined).map((c) => `[${c.name}] url`),
      ...config.publishers
        .filter((p) => p.name !== publisher.name && p.urls !== undefined)
        .map((p) => `[publisher:${p.name}] url`),
    ];
    if (roleLogins.length > 0) {
      throw new ConfigError([
        `${display}: [${section}] url: missing; the file gives roles their own logins (${roleLogins.slice(0, 3).join(", ")}), so the shared [global] login is not this publisher's to have: add its own url (net2banctl rabbitmq-setup prints it)`,
      ]);
    }
    options.warn?.(
      `${display}: [${section}] has no url of its own: the export carries the login every peer shares; give it its own (net2banctl rabbitmq-setup)`,
    );
  }
  const { broker } = config;
  const global: Array<[string, string]> = [
    ["mode", "publisher"],
    ["url", (publisher.urls ?? broker.urls).join(", ")],
    ["queue_prefix", config.queuePrefix],
    ["heartbeat", String(broker.heartbeatSeconds)],
  ];
  if (broker.inputExchange !== undefined) global.push(["input_exchange", broker.inputExchange]);
  if (broker.tls?.ca !== undefined) global.push(["tls_ca", broker.tls.ca]);
  if (broker.tls?.cert !== undefined) global.push(["tls_cert", broker.tls.cert]);
  if (broker.tls?.key !== undefined) global.push(["tls_key", broker.tls.key]);
  const own: Array<[string, string]> = [
    ["key", publisher.key],
    ["secret", publisher.secret],
    ["rounds", String(publisher.rounds)],
    ["authkey", publisher.authkey],
    ["valid_wtime", String(publisher.validWindowSeconds)],
    ["protocol", "2"],
    ["input", publisher.queue],
  ];
  for (const [key, value] of [...global, ...own]) {
    if (!writable(value)) {
      throw new ConfigError([
        `${display}: [${section}] ${key}: cannot be exported faithfully; check its value`,
      ]);
    }
  }
  const lines = (title: string, entries: Array<[string, string]>) =>
    [`[${title}]`, ...entries.map(([k, v]) => `${k} = ${v}`)].join("\n");
  const text = `${lines("global", global)}\n\n${lines(section, own)}\n`;

  const reread = parseConfig(text, config.path).config;
  const back = reread.publishers[0];
  const same =
    reread.publishers.length === 1 &&
    back !== undefined &&
    back.name === publisher.name &&
    back.key === publisher.key &&
    back.secret === publisher.secret &&
    back.rounds === publisher.rounds &&
    back.authkey === publisher.authkey &&
    back.queue === publisher.queue;
  if (!same) {
    throw new ConfigError([`${display}: [${section}]: cannot be exported faithfully; check its values`]);
  }
  return text;
}
