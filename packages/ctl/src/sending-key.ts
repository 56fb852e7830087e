// Which key net2banctl seals its requests with: the [server] key (the operator's own file), or, in a
// file made by `net2banctl get_publisher`, that publisher's key, whose name the server reads as the key id.
import type { Net2banConfig } from "@net2ban/config";
import { UsageError } from "@net2ban/runtime";

export interface SendingKey {
  /** "server" or the publisher's name: the key id of the requests, and of the replies to them. */
  keyId: string;
  keys: { key: string; secret: string; rounds: number; authkey: string };
  protocol: 1 | 2;
  /** The server's input queue. */
  queue: string;
  /** The login net2banctl connects with. */
  urls: string[];
  /** The section to name in messages: `[server]` or `[publisher:NAME]`. */
  section: string;
}

/**
 * The [server] key when the file has [server]; else its one `[publisher:NAME]` section. UsageError (exit
 * 2) when the file has neither, or several publishers and no [server].
 */
export function sendingKey(config: Net2banConfig): SendingKey {
  const server = config.server;
  if (server !== undefined) {
    return {
      keyId: "server",
      keys: server,
      protocol: server.protocol,
      queue: server.queue,
      urls: config.broker.ctlUrls ?? config.broker.urls,
      section: "[server]",
    };
  }
  const [publisher, ...more] = config.publishers;
  if (publisher === undefined || more.length > 0) {
    throw new UsageError(
      `${config.path}: [server] key: missing; net2banctl needs the [server] section or one [publisher:NAME] section (net2banctl get_publisher NAME) to send`,
    );
  }
  return {
    keyId: publisher.name,
    keys: publisher,
    protocol: 2,
    queue: publisher.queue,
    urls: publisher.urls ?? config.broker.urls,
    section: `[publisher:${publisher.name}]`,
  };
}
