// net2ban-agent: takes commands from its own queue and runs them as fail2ban actions on this host.
import type { ActionEngine } from "@net2ban/actions";
import type { PeerConfig } from "@net2ban/config";
import {
  type Codec,
  createCodec,
  FreshnessGuard,
  type KeyCache,
  MessageRejectedError,
  type OpenedMessage,
} from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import type { Broker, Consumer, Delivery, Verdict } from "@net2ban/transport";
import { decodeActionContent, UpdateRefusedError, writeActionFile } from "./update.js";

export interface AgentOptions {
  /** This agent's section of the config (its name, keys, queue, protocol). */
  peer: PeerConfig;
  broker: Broker;
  logger: Logger;
  engine: ActionEngine;
  /** Where `update` writes action files; the engine reads the same directory. */
  actionsDir: string;
  prefetch: number;
  keyCache?: KeyCache;
  /** Clock in milliseconds since the epoch. */
  now?: () => number;
}

/** Errors that mean "this command can never run here": logged and dead-lettered, never retried. */
const PERMANENT_ERRORS = new Set([
  "ParamRefusedError",
  "ActionNotFoundError",
  "ActionConfigError",
  "UpdateRefusedError",
]);

export class Net2banAgent {
  readonly #options: AgentOptions;
  readonly #codec: Codec;
  readonly #guard: FreshnessGuard;
  #consumer: Consumer | undefined;

  private constructor(options: AgentOptions, codec: Codec) {
    this.#options = options;
    this.#codec = codec;
    this.#guard = new FreshnessGuard({
      validWindowSeconds: options.peer.validWindowSeconds,
      now: options.now ?? Date.now,
    });
  }

  static async create(options: AgentOptions): Promise<Net2banAgent> {
    const codec = await createCodec({
      protocol: options.peer.protocol,
      keyId: options.peer.name,
      direction: "to-agent",
      keys: options.peer,
      ...(options.keyCache === undefined ? {} : { cache: options.keyCache }),
    });
    return new Net2banAgent(options, codec);
  }

  get name(): string {
    return this.#options.peer.name;
  }

  async start(): Promise<void> {
    const { peer, broker, prefetch, logger } = this.#options;
    const queue = { name: peer.queue, queueType: peer.queueType };
    await broker.assertQueue(queue);
    this.#consumer = await broker.consume({ prefetch, queue }, (delivery) => this.handleCommand(delivery));
    logger.info({ queue: peer.queue, protocol: peer.protocol }, `net2ban agent ${peer.name} started`);
  }

  /** Stops taking commands, lets running ones finish, then runs actionstop for every started action. */
  async stop(): Promise<void> {
    await this.#consumer?.cancel();
    this.#consumer = undefined;
    await this.#options.engine.stopAll();
  }

  /** One command from the agent's queue; acknowledged only after its action has run. */
  async handleCommand(delivery: Delivery): Promise<Verdict> {
    const { logger } = this.#options;
    let opened: OpenedMessage;
    try {
      opened = this.#codec.open(delivery.body);
      this.#guard.check(opened);
    } catch (error) {
      if (error instanceof MessageRejectedError) {
        logger.warn(
          { reason: error.reason, bytes: delivery.body.length, redelivered: delivery.redelivered },
          "message rejected",
        );
        return "reject";
      }
      throw error;
    }
    try {
      return await this.#run(opened);
    } catch (error) {
      const name = error instanceof Error ? error.name : "";
      if (PERMANENT_ERRORS.has(name)) {
        logger.error({ err: error, replayKey: opened.replayKey }, (error as Error).message);
        return "reject";
      }
      // Unexpected: let the broker redeliver it, and let the redelivery through the replay check.
      this.#guard.forget(opened);
      throw error;
    }
  }

  async #run(opened: OpenedMessage): Promise<Verdict> {
    const { logger, engine, actionsDir } = this.#options;
    const message = opened.message;
    const id = "id" in message ? message.id : undefined;
    switch (message.cmd) {
      case "exec": {
        const outcome = await engine.execute({
          file: message.file,
          action: message.action,
          params: message.params,
        });
        const ip = message.params["ip"];
        const context = { id, file: message.file, action: message.action, ip };
        if (!outcome.ok) {
          logger.error(
            { ...context, exitCode: outcome.exitCode, timedOut: outcome.timedOut, stderr: outcome.stderr },
            `${message.file}/${message.action} failed with exit code ${outcome.exitCode ?? "none"}${outcome.timedOut ? " (timed out)" : ""}`,
          );
        } else if (message.action === "actionban" && ip !== undefined) {
          logger.info({ ...context, durationMs: outcome.durationMs }, `IP ${ip} banned`);
        } else if (message.action === "actionunban" && ip !== undefined) {
          logger.info({ ...context, durationMs: outcome.durationMs }, `IP ${ip} unbanned`);
        } else {
          logger.info(
            { ...context, durationMs: outcome.durationMs },
            `${message.file}/${message.action} done`,
          );
        }
        // A failed command is done work too: it was run, logged, and retrying it blindly could repeat harm.
        return "ack";
      }
      case "update": {
        if (message.client !== this.name) {
          throw new UpdateRefusedError(`update for client "${message.client}" reached agent "${this.name}"`);
        }
        const content = decodeActionContent(message.content);
        await writeActionFile(actionsDir, message.file, content);
        engine.reload();
        logger.info({ id, file: message.file, bytes: content.length }, `File "${message.file}" updated`);
        return "ack";
      }
      default:
        logger.warn({ id, cmd: message.cmd }, `"${message.cmd}" is not a command an agent runs`);
        return "reject";
    }
  }
}
