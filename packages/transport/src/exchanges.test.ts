// Exchanges that route by queue name: argument checks and which queues a binding declares and binds.

import { describe, expect, it } from "vitest";
import { assertExchangeName, assertQueueBinding, bindingDeclarations, bindingKey } from "./exchanges.js";
import { resolveBrokerOptions } from "./options.js";

const logger = { debug() {}, info() {}, warn() {}, error() {} };

describe("assertExchangeName", () => {
  it("takes ordinary names and refuses the default exchange, reserved and over-long names", () => {
    expect(() => assertExchangeName("net2ban.input", "exchange")).not.toThrow();
    expect(() => assertExchangeName("", "exchange")).toThrow('"exchange" expected a non-empty string');
    expect(() => assertExchangeName("amq.direct", "exchange")).toThrow(
      '"exchange" must not start with the reserved prefix "amq."',
    );
    expect(() => assertExchangeName("x".repeat(256), "exchange")).toThrow(
      '"exchange" expected at most 255 bytes, got 256',
    );
    expect(() => assertExchangeName(7, "opts.exchange")).toThrow(
      '"opts.exchange" expected a string, got number',
    );
  });
});

describe("assertQueueBinding", () => {
  it("names the field that is wrong", () => {
    const queue = { name: "input_net2ban" };
    expect(() => assertQueueBinding({ exchange: "in", exchangeType: "direct", queue }, "b")).not.toThrow();
    expect(() => assertQueueBinding({ exchange: "in", exchangeType: "fanout", queue }, "b")).toThrow(
      /"b\.exchangeType" expected one of "direct", "topic"/,
    );
    expect(() => assertQueueBinding({ exchange: "in", exchangeType: "topic", queue: {} }, "b")).toThrow(
      '"b.queue.name" expected a string, got undefined',
    );
    expect(() =>
      assertQueueBinding({ exchange: "in", exchangeType: "topic", queue, deadLetter: "yes" }, "b"),
    ).toThrow('"b.deadLetter" expected a boolean, got string');
  });
});

describe("bindingDeclarations", () => {
  it("binds a classic queue itself, or only its .dead queue", () => {
    const queue = { name: "net2ban_web1" };
    expect(bindingDeclarations({ exchange: "in", exchangeType: "direct", queue })).toEqual([
      { name: "net2ban_web1", arguments: undefined },
    ]);
    expect(bindingDeclarations({ exchange: "dead", exchangeType: "topic", queue, deadLetter: true })).toEqual(
      [{ name: "net2ban_web1.dead", arguments: undefined }],
    );
  });

  it("declares a quorum queue's .dead queue first and binds the queue itself last", () => {
    const queue = { name: "q", queueType: "quorum" as const };
    const names = bindingDeclarations({ exchange: "in", exchangeType: "direct", queue }).map((d) => d.name);
    expect(names).toEqual(["q.dead", "q"]);
    expect(bindingDeclarations({ exchange: "dead", exchangeType: "topic", queue, deadLetter: true })).toEqual(
      [{ name: "q.dead", arguments: { "x-queue-type": "quorum" } }],
    );
  });

  it("keys a binding by exchange and bound queue", () => {
    const queue = { name: "q" };
    const main = bindingKey({ exchange: "e", exchangeType: "direct", queue });
    const dead = bindingKey({ exchange: "e", exchangeType: "topic", queue, deadLetter: true });
    expect(main).not.toBe(dead);
    expect(bindingKey({ exchange: "e", exchangeType: "topic", queue })).toBe(main);
  });
});

describe("resolveBrokerOptions: deadLetterExchange", () => {
  it("is checked like any exchange name and passed through", () => {
    const urls = ["amqp://127.0.0.1/"];
    expect(
      resolveBrokerOptions({ urls, logger, deadLetterExchange: "net2ban.dead" }).deadLetterExchange,
    ).toBe("net2ban.dead");
    expect(resolveBrokerOptions({ urls, logger }).deadLetterExchange).toBeUndefined();
    expect(() => resolveBrokerOptions({ urls, logger, deadLetterExchange: "amq.topic" })).toThrow(
      '"options.deadLetterExchange" must not start with the reserved prefix "amq."',
    );
  });
});
