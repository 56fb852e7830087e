// redactUrl and URL checks: a password never reaches a log line or an error message.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertBrokerUrl, preferredUrlIndex, redactUrl, withHeartbeat } from "./url.js";

describe("redactUrl", () => {
  it("masks the password and keeps user, host, port and vhost", () => {
    expect(redactUrl("amqp://net2ban:s3cret@rabbit1.example:5672/prod")).toBe(
      "amqp://net2ban:***@rabbit1.example:5672/prod",
    );
    expect(redactUrl("amqps://u:p@10.0.0.1/%2F")).toBe("amqps://u:***@10.0.0.1/%2F");
  });

  it("leaves URLs without a password alone", () => {
    expect(redactUrl("amqp://rabbit:5672/")).toBe("amqp://rabbit:5672/");
    expect(redactUrl("amqp://user@rabbit/")).toBe("amqp://user@rabbit/");
  });

  it("masks a password without a user", () => {
    expect(redactUrl("amqp://:topsecret@rabbit/")).toBe("amqp://:***@rabbit/");
  });

  it("never echoes an unparseable URL (it may hold a password)", () => {
    expect(redactUrl("amqp://user:pa ss@[bad")).toBe("<unparseable broker URL>");
  });

  it("never contains the password, whatever it is", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 6, maxLength: 40 }), (password) => {
        const url = `amqp://net2ban:${encodeURIComponent(password)}@rabbit.example:5672/vhost`;
        const redacted = redactUrl(url);
        expect(redacted).not.toContain(encodeURIComponent(password));
        expect(redacted).toBe("amqp://net2ban:***@rabbit.example:5672/vhost");
      }),
    );
  });
});

describe("assertBrokerUrl", () => {
  it("accepts amqp and amqps URLs", () => {
    expect(() => assertBrokerUrl("amqp://h/", "urls[0]")).not.toThrow();
    expect(() => assertBrokerUrl("amqps://u:p@h:5671/v", "urls[0]")).not.toThrow();
  });

  it("names the argument and masks the password of a wrong scheme", () => {
    expect(() => assertBrokerUrl("http://u:hunter22@h/", "options.urls[1]")).toThrow(
      '"options.urls[1]" expected an amqp:// or amqps:// URL, got http://u:***@h/',
    );
  });

  it("rejects non-strings and unparseable strings without echoing them", () => {
    expect(() => assertBrokerUrl(42, "options.urls[0]")).toThrow(/got number/);
    expect(() => assertBrokerUrl("not a url hunter22", "options.urls[0]")).toThrow(
      /got an unparseable string$/,
    );
  });
});

describe("withHeartbeat", () => {
  it("adds the heartbeat to the query", () => {
    expect(withHeartbeat("amqp://u:p@h:5672/v", 30)).toBe("amqp://u:p@h:5672/v?heartbeat=30");
    expect(withHeartbeat("amqp://h/v?frameMax=8192", 5)).toBe("amqp://h/v?frameMax=8192&heartbeat=5");
  });

  it("keeps an operator's explicit heartbeat and the credentials byte for byte", () => {
    expect(withHeartbeat("amqp://u:p%40ss@h/?heartbeat=10", 30)).toBe("amqp://u:p%40ss@h/?heartbeat=10");
    expect(withHeartbeat("amqp://u:p%40ss@h/", 30)).toBe("amqp://u:p%40ss@h/?heartbeat=30");
  });
});

describe("preferredUrlIndex", () => {
  it("is FNV-1a (32 bits) of the key modulo the count", () => {
    // Published FNV-1a test values: "" -> 0x811c9dc5, "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968.
    expect(preferredUrlIndex("", 0x1_0000_0000)).toBe(0x811c9dc5);
    expect(preferredUrlIndex("a", 0x1_0000_0000)).toBe(0xe40c292c);
    expect(preferredUrlIndex("foobar", 0x1_0000_0000)).toBe(0xbf9cf968);
    expect(preferredUrlIndex("a", 1000)).toBe(0xe40c292c % 1000);
  });

  it("is stable and always a valid index", () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 16 }), (key, count) => {
        const index = preferredUrlIndex(key, count);
        expect(index).toBe(preferredUrlIndex(key, count));
        expect(Number.isInteger(index) && index >= 0 && index < count).toBe(true);
      }),
    );
  });

  it("spreads a fleet's connection names evenly over three nodes", () => {
    const counts = [0, 0, 0];
    for (let i = 1; i <= 3000; i++) counts[preferredUrlIndex(`net2ban-agent web${i}@web${i}`, 3)]! += 1;
    for (const n of counts) expect(n).toBeGreaterThan(900);
  });

  it("names a wrong argument", () => {
    expect(() => preferredUrlIndex("a", 0)).toThrow('"count" expected a positive integer, got 0');
    expect(() => preferredUrlIndex(5 as unknown as string, 3)).toThrow('"key" expected a string, got number');
  });
});
