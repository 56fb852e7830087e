// redactUrl and URL checks: a password never reaches a log line or an error message.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertBrokerUrl, redactUrl, withHeartbeat } from "./url.js";

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
