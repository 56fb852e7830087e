// Queue declarations (legacy-compatible classic queues, quorum with dead-lettering) and mismatch replies.

import { describe, expect, it } from "vitest";
import {
  assertQueueName,
  assertQueueSpec,
  deadLetterDeclaration,
  declarationsFor,
  describeDeclaration,
  parseQueueMismatch,
  queueDeclaration,
} from "./queues.js";

describe("queueDeclaration", () => {
  it("gives classic queues no arguments at all (as the Python net2ban declared them)", () => {
    expect(queueDeclaration({ name: "net2ban_client1" })).toEqual({
      name: "net2ban_client1",
      arguments: undefined,
    });
    expect(queueDeclaration({ name: "q", queueType: "classic" })).toEqual({
      name: "q",
      arguments: undefined,
    });
    expect(declarationsFor({ name: "q" })).toHaveLength(1);
  });

  it("makes quorum queues count deliveries and dead-letter to <name>.dead", () => {
    expect(queueDeclaration({ name: "agents.a1", queueType: "quorum" }).arguments).toEqual({
      "x-queue-type": "quorum",
      "x-delivery-limit": 20,
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": "agents.a1.dead",
    });
    expect(
      queueDeclaration({ name: "q", queueType: "quorum", deliveryLimit: 3 }).arguments?.["x-delivery-limit"],
    ).toBe(3);
  });

  it("declares the dead-letter queue first, with the same type and nothing else", () => {
    const [dead, main] = declarationsFor({ name: "q", queueType: "quorum" });
    expect(dead).toEqual({ name: "q.dead", arguments: { "x-queue-type": "quorum" } });
    expect(main?.name).toBe("q");
    expect(deadLetterDeclaration({ name: "q" })).toEqual({ name: "q.dead", arguments: undefined });
  });
});

describe("describeDeclaration", () => {
  it("says in words how net2ban declares a queue, for mismatch errors", () => {
    expect(describeDeclaration(queueDeclaration({ name: "q" }))).toBe(
      "a durable classic queue without arguments",
    );
    expect(describeDeclaration(queueDeclaration({ name: "q", queueType: "quorum", deliveryLimit: 5 }))).toBe(
      "a durable quorum queue (delivery limit 5)",
    );
    expect(describeDeclaration(deadLetterDeclaration({ name: "q", queueType: "quorum" }))).toBe(
      "a durable quorum queue",
    );
  });
});

describe("assertQueueSpec", () => {
  it("names the field that is wrong", () => {
    expect(() => assertQueueSpec({ name: "" }, "spec")).toThrow('"spec.name" expected a non-empty string');
    expect(() => assertQueueSpec({ name: "q", queueType: "stream" }, "spec")).toThrow(
      '"spec.queueType" expected one of "classic", "quorum", got "stream"',
    );
    expect(() => assertQueueSpec({ name: "q", queueType: "quorum", deliveryLimit: 0 }, "spec")).toThrow(
      /"spec.deliveryLimit" expected an integer from 1/,
    );
    expect(() => assertQueueSpec({ name: "q", deliveryLimit: 5 }, "spec")).toThrow(
      /needs queueType "quorum"/,
    );
    expect(() => assertQueueSpec(null, "spec")).toThrow('"spec" expected an object, got null');
  });

  it("accepts undefined optional fields", () => {
    expect(() =>
      assertQueueSpec({ name: "q", queueType: undefined, deliveryLimit: undefined }, "s"),
    ).not.toThrow();
  });

  it("refuses names the broker would refuse", () => {
    expect(() => assertQueueName("amq.gen-1", "queue")).toThrow(/reserved prefix/);
    expect(() => assertQueueName("é".repeat(128), "queue")).toThrow(
      '"queue" expected at most 255 bytes, got 256',
    );
  });
});

describe("parseQueueMismatch", () => {
  // Replies captured from RabbitMQ 3.10.8 through amqplib 2.3.1.
  const prefix = "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message ";

  it("reads classic-vs-quorum both ways", () => {
    expect(
      parseQueueMismatch(
        `${prefix}"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q1' in vhost '/': received the value 'quorum' of type 'longstr' but current is none"`,
      ),
    ).toEqual({ argument: "x-queue-type", requested: "quorum", existing: "none" });
    expect(
      parseQueueMismatch(
        `${prefix}"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q1' in vhost '/': received none but current is the value 'quorum' of type 'longstr'"`,
      ),
    ).toEqual({ argument: "x-queue-type", requested: "none", existing: "quorum" });
  });

  it("reads durable and delivery-limit mismatches", () => {
    expect(
      parseQueueMismatch(
        `${prefix}"PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"`,
      ),
    ).toEqual({ argument: "durable", requested: "false", existing: "true" });
    expect(
      parseQueueMismatch(
        `${prefix}"PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'q' in vhost 'v': received '5' but current is '20'"`,
      ),
    ).toEqual({ argument: "x-delivery-limit", requested: "5", existing: "20" });
  });

  it("returns nothing it cannot read", () => {
    expect(parseQueueMismatch("PRECONDITION_FAILED - something new")).toEqual({});
  });
});
