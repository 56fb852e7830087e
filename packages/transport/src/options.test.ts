// BrokerOptions checks: a wrong call names the option, never shows a password, and defaults are sane.

import { describe, expect, it } from "vitest";
import { resolveBrokerOptions } from "./options.js";
import type { BrokerOptions } from "./types.js";
import { preferredUrlIndex } from "./url.js";

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const base: BrokerOptions = { urls: ["amqp://u:hunter22@h1/", "amqp://u:hunter22@h2/"], logger };

describe("resolveBrokerOptions", () => {
  it("fills in the defaults", () => {
    const settings = resolveBrokerOptions({ ...base, startIndex: 1 });
    expect(settings.heartbeatSeconds).toBe(30);
    expect(settings.recover).toBe(false);
    expect(settings.operationTimeoutMs).toBe(30_000);
    expect(settings.socketOptions).toEqual({ timeout: 10_000, noDelay: true });
    expect(settings.startIndex).toBe(1);
    expect(settings.reconnect).toEqual({ initialDelayMs: 500, maxDelayMs: 30_000, factor: 2, jitter: 0.2 });
  });

  it("starts an anonymous client at a random URL", () => {
    expect(resolveBrokerOptions({ ...base, random: () => 0.99 }).startIndex).toBe(1);
    expect(resolveBrokerOptions({ ...base, random: () => 0 }).startIndex).toBe(0);
  });

  it("starts a named client at the URL its connection name hashes to, whatever the randomness", () => {
    const urls = ["amqp://h1/", "amqp://h2/", "amqp://h3/"];
    for (const name of ["net2ban-server@mq", "net2ban-agent web1@web1", "net2ban-agent web2@web2"]) {
      const expected = preferredUrlIndex(name, 3);
      for (const random of [() => 0, () => 0.99]) {
        expect(resolveBrokerOptions({ ...base, urls, connectionName: name, random }).startIndex).toBe(
          expected,
        );
      }
    }
    // An explicit start index still wins.
    expect(resolveBrokerOptions({ ...base, urls, connectionName: "x", startIndex: 2 }).startIndex).toBe(2);
  });

  it("passes connection name and TLS material to the socket", () => {
    const settings = resolveBrokerOptions({
      ...base,
      connectionName: "net2ban-agent web1",
      tls: { ca: "CA PEM", cert: Buffer.from("CERT"), key: undefined },
    });
    expect(settings.socketOptions).toMatchObject({
      clientProperties: { connection_name: "net2ban-agent web1" },
      ca: "CA PEM",
      cert: Buffer.from("CERT"),
    });
    expect(settings.socketOptions).not.toHaveProperty("key");
  });

  it("names the option that is wrong", () => {
    expect(() => resolveBrokerOptions({ ...base, urls: [] })).toThrow(
      '"options.urls" expected a non-empty array',
    );
    expect(() => resolveBrokerOptions({ ...base, urls: ["amqp://h/", "redis://u:hunter22@h/"] })).toThrow(
      '"options.urls[1]" expected an amqp:// or amqps:// URL, got redis://u:***@h/',
    );
    expect(() => resolveBrokerOptions({ ...base, heartbeatSeconds: -1 })).toThrow(
      /"options.heartbeatSeconds"/,
    );
    expect(() => resolveBrokerOptions({ ...base, recover: "yes" as unknown as boolean })).toThrow(
      '"options.recover" expected a boolean, got string',
    );
    expect(() =>
      resolveBrokerOptions({ ...base, logger: { info() {} } as unknown as typeof logger }),
    ).toThrow('"options.logger.debug" expected a function, got undefined');
    expect(() => resolveBrokerOptions({ ...base, tls: { ca: 5 as unknown as string } })).toThrow(
      /"options.tls.ca"/,
    );
    expect(() => resolveBrokerOptions({ ...base, reconnect: { jitter: 2 } })).toThrow(
      /"options.reconnect.jitter"/,
    );
  });
});
