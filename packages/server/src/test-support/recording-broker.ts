// Test support: a Broker that records what is published and hands consumers to the test.
import type {
  Broker,
  BrokerEvent,
  BrokerEventInfo,
  Consumer,
  ConsumerOptions,
  Delivery,
  PublishItem,
  QueueInfo,
  Verdict,
} from "@net2ban/transport";

/** Records what is published; consumers are kept so the test can hand them deliveries. */
export class RecordingBroker implements Broker {
  readonly published: PublishItem[] = [];
  readonly handlers = new Map<string, (delivery: Delivery) => Promise<Verdict>>();
  async assertQueue(): Promise<void> {}
  async bindQueue(): Promise<void> {}
  async publish(queue: string, body: Buffer): Promise<void> {
    this.published.push({ queue, body });
  }
  async publishAll(items: PublishItem[]): Promise<void> {
    this.published.push(...items);
  }
  async consume(
    options: ConsumerOptions,
    handler: (delivery: Delivery) => Promise<Verdict>,
  ): Promise<Consumer> {
    this.handlers.set(options.queue.name, handler);
    return { cancel: async () => undefined };
  }
  async queueInfo(): Promise<QueueInfo | null> {
    return null;
  }
  async deleteQueue(): Promise<void> {}
  async close(): Promise<void> {}
  on(_event: BrokerEvent, _listener: (info: BrokerEventInfo) => void): void {}
}
