// Error messages: one line, passwords masked, the details callers branch on kept as fields.

import { describe, expect, it } from "vitest";
import {
  BrokerUnavailableError,
  describeError,
  PublishBatchError,
  PublishError,
  QueueMismatchError,
  TransportError,
} from "./errors.js";

describe("BrokerUnavailableError", () => {
  it("is one line naming every URL tried, passwords masked, with each reason", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:5672"), { code: "ECONNREFUSED" });
    const error = new BrokerUnavailableError([
      { url: "amqp://net2ban:hunter22@10.0.0.1:5672/", error: refused },
      { url: "amqps://net2ban:hunter22@10.0.0.2/", error: new Error("connect ETIMEDOUT\n  at somewhere") },
    ]);
    expect(error.message).toBe(
      "RabbitMQ unavailable: tried amqp://net2ban:***@10.0.0.1:5672/ (connect ECONNREFUSED 10.0.0.1:5672), " +
        "amqps://net2ban:***@10.0.0.2/ (connect ETIMEDOUT at somewhere)",
    );
    expect(error.message).not.toContain("hunter22");
    expect(error.message).not.toContain("\n");
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.name).toBe("BrokerUnavailableError");
    expect(error).toBeInstanceOf(TransportError);
    expect(error.attempts).toHaveLength(2);
  });

  it("says when an established connection was lost without recovery", () => {
    const error = new BrokerUnavailableError(
      [{ url: "amqp://u:p@h/", error: new Error("heartbeat timeout") }],
      {
        lost: true,
      },
    );
    expect(error.message).toBe(
      "RabbitMQ unavailable: connection to amqp://u:***@h/ (heartbeat timeout) lost and recovery is off",
    );
  });
});

describe("describeError", () => {
  it("spells out an AggregateError from a dual-stack connect, which has no message of its own", () => {
    const aggregate = new AggregateError([
      new Error("connect ECONNREFUSED ::1:5999"),
      new Error("connect ECONNREFUSED 127.0.0.1:5999"),
    ]);
    expect(describeError(aggregate)).toBe(
      "connect ECONNREFUSED ::1:5999; connect ECONNREFUSED 127.0.0.1:5999",
    );
  });

  it("falls back to the code of an error without a message", () => {
    expect(describeError(Object.assign(new Error(""), { code: "ECONNRESET" }))).toBe("ECONNRESET");
    expect(describeError("plain\ntext")).toBe("plain text");
  });
});

describe("PublishError", () => {
  it("names queue, message id and reason", () => {
    const error = new PublishError("net2ban_c1", "returned", "no such queue", { messageId: "m-1" });
    expect(error.message).toBe('publish to queue "net2ban_c1" (message m-1) failed: no such queue');
    expect(error.reason).toBe("returned");
    expect(error.messageId).toBe("m-1");
  });

  it("batch errors keep every failure and are PublishErrors", () => {
    const failures = [new PublishError("a", "nacked", "x"), new PublishError("b", "returned", "y")];
    const batch = new PublishBatchError(failures, 5);
    expect(batch).toBeInstanceOf(PublishError);
    expect(batch.failures).toEqual(failures);
    expect(batch.message).toBe('2 of 5 publishes failed; first: publish to queue "a" failed: x');
  });
});

describe("QueueMismatchError", () => {
  it("says what differs, how net2ban declares the queue, and what to do", () => {
    const error = new QueueMismatchError("q1", {
      argument: "x-dead-letter-exchange",
      requested: "",
      existing: "none",
      declaredAs: "a durable quorum queue (delivery limit 20)",
    });
    expect(error.message).toBe(
      "queue \"q1\" already exists with other settings (x-dead-letter-exchange is none there, net2ban asks for ''); " +
        "net2ban declares it as a durable quorum queue (delivery limit 20); delete the queue or change the configuration to match",
    );
    expect(new QueueMismatchError("q1", {}).message).toBe(
      'queue "q1" already exists with other settings; delete the queue or change the configuration to match',
    );
  });
});
