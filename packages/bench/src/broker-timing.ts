// A Broker that is the same broker, except that each delivery is time-stamped when it reaches the app's
// handler and when the handler settles: how the benchmarks see inside a server or agent without changing it.
import type { Broker } from "@net2ban/transport";

export interface DeliveryHooks {
  delivered?: (messageId: string | undefined) => void;
  settled?: (messageId: string | undefined) => void;
}

export function timedBroker(broker: Broker, hooks: DeliveryHooks): Broker {
  const consume: Broker["consume"] = (options, handler) =>
    broker.consume(options, async (delivery) => {
      hooks.delivered?.(delivery.messageId);
      try {
        return await handler(delivery);
      } finally {
        hooks.settled?.(delivery.messageId);
      }
    });
  // A Proxy rather than a copy of each method, so that methods added to Broker later pass through as well.
  return new Proxy(broker, {
    get(target, property) {
      if (property === "consume") return consume;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
