// net2ban-agent: takes commands from its own queue and runs them as fail2ban actions on this host.
import { type ActionEngine, OPERATIONS, ParamRefusedError } from "@net2ban/actions";
import {
  Allowlist,
  assertBanAllowed,
  LOOPBACK,
  localInterfaceAddresses,
  type PeerConfig,
} from "@net2ban/config";
import {
  type Codec,
  createCodec,
  type ExecMessage,
  FreshnessGuard,
  type KeyCache,
  MessageRejectedError,
  type OpenedMessage,
} from "@net2ban/protocol";
import type { ApplyMessage, SyncMessage } from "@net2ban/protocol/fleet";
import type { Logger } from "@net2ban/runtime";
import type { Broker, Consumer, Delivery, Verdict } from "@net2ban/transport";
import { logActionOutcome } from "./action-log.js";
import type { Journal } from "./journal.js";
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
  /**
   * The agent's journal in `state_dir/<client>`: each message id takes effect once, also across
   * restarts and crashes. Without it, ids are remembered in memory only (until the process exits).
   */
  journal?: Journal;
  /**
   * Bans this agent refuses ([global] + its own ignoreip, loopback, the broker, its own addresses; see
   * allowlistFor and protectedAddresses in @net2ban/config). Default: loopback and this host's addresses.
   */
  allowlist?: Allowlist;
}

/** An exec or update the agent carried out, as its result reports it. */
export interface CommandRun {
  id?: string | undefined;
  timestamp: number;
  cmd: "exec" | "update";
  file: string;
  action?: string;
  params?: Record<string, string>;
}

/** How a command went. */
export interface CommandOutcome {
  ok: boolean;
  exitCode: number | null;
  durationMs: number;
  stderr: string;
}

/** The ban state of a v2 agent (state.ts: AgentState): apply and sync commands, results, digests. */
export interface AgentStateHooks {
  /** Before commands are taken: crash leftovers and bans whose end passed while down. */
  prepare(): Promise<void>;
  /** Once commands are taken: expiry timer, drift checks, the catch-up digest. */
  start(): void;
  stop(): Promise<void>;
  apply(message: ApplyMessage): Promise<void>;
  sync(message: SyncMessage): Promise<void>;
  reportCommand(message: CommandRun, outcome: CommandOutcome): void;
}

/** Errors that mean "this command can never run here": logged and dead-lettered, never retried. */
const PERMANENT_ERRORS = new Set([
  "ParamRefusedError",
  "ActionNotFoundError",
  "ActionConfigError",
  "UpdateRefusedError",
  "BanRefusedError",
]);

/**
 * Operations that are undone (actionunban) before they run again when a crash left them in doubt.
 * Running them twice is not harmless: stock iptables actionban inserts a rule (`-I`), twice makes two,
 * and the one unban that follows removes only one, so the address would stay banned for good.
 */
const UNDO_BEFORE_RERUN = new Set(["actionban", "actionreban"]);

export class Net2banAgent {
  readonly #options: AgentOptions;
  readonly #codec: Codec;
  readonly #guard: FreshnessGuard;
  readonly #allowlist: Allowlist;
  #consumer: Consumer | undefined;
  /** Ids being carried out now: a second copy (a redelivery after a reconnect) waits for the first. */
  readonly #inFlight = new Map<string, Promise<void>>();
  /** One message at a time (the engine runs one command at a time anyway): after a crash at most one is in doubt. */
  #turn: Promise<unknown> = Promise.resolve();
  #state: AgentStateHooks | undefined;

  private constructor(options: AgentOptions, codec: Codec) {
    this.#options = options;
    this.#codec = codec;
    this.#allowlist =
      options.allowlist ??
      Allowlist.of("default: loopback", LOOPBACK).concat(
        Allowlist.of("default: this host", localInterfaceAddresses()),
      );
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

  /** Gives this agent its ban state (before start); its work then runs in the agent's turn (serially). */
  attachState(state: AgentStateHooks): void {
    this.#state = state;
  }

  /** Runs `task` after the commands before it, and before the ones after: one action at a time. */
  serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(task);
    this.#turn = run.catch(() => undefined);
    return run;
  }

  async start(): Promise<void> {
    const { peer, broker, prefetch, logger } = this.#options;
    const queue = { name: peer.queue, queueType: peer.queueType };
    await broker.assertQueue(queue);
    await this.#state?.prepare();
    this.#consumer = await broker.consume({ prefetch, queue }, (delivery) => this.handleCommand(delivery));
    this.#state?.start();
    logger.info({ queue: peer.queue, protocol: peer.protocol }, `net2ban agent ${peer.name} started`);
  }

  /** Stops taking commands, lets running ones finish, then runs actionstop for every started action. */
  async stop(): Promise<void> {
    await this.#consumer?.cancel();
    this.#consumer = undefined;
    await this.#state?.stop();
    await this.#options.engine.stopAll();
  }

  /**
   * One command from the agent's queue; acknowledged only after its action has run and the journal
   * says so on disk. A message the journal has seen through is never run again.
   */
  async handleCommand(delivery: Delivery): Promise<Verdict> {
    const { logger, journal } = this.#options;
    let opened: OpenedMessage;
    try {
      opened = this.#codec.open(delivery.body);
    } catch (error) {
      if (error instanceof MessageRejectedError) return this.#rejected(error, delivery);
      throw error;
    }
    const key = opened.replayKey;
    for (let running = this.#inFlight.get(key); running !== undefined; running = this.#inFlight.get(key)) {
      await running;
    }
    const known = journal?.lookup(key);
    if (known?.state === "done") return this.#alreadyDone(key, delivery);
    const inDoubt = known?.inDoubt === true;
    try {
      this.#guard.check(opened);
      if (journal !== undefined && known === undefined && opened.message.timestamp <= journal.floor) {
        throw new MessageRejectedError("expired", "older than what the journal still remembers");
      }
    } catch (error) {
      if (!(error instanceof MessageRejectedError)) throw error;
      if (inDoubt) {
        logger.error(
          { id: key, reason: error.reason },
          `message ${key} was in doubt after a crash but is refused now (${error.reason}): check its action by hand`,
        );
      }
      return this.#rejected(error, delivery);
    }
    const task = this.#carryOut(opened, inDoubt);
    const settled = task.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.set(key, settled);
    try {
      return await task;
    } finally {
      if (this.#inFlight.get(key) === settled) this.#inFlight.delete(key);
    }
  }

  #rejected(error: MessageRejectedError, delivery: Delivery): Verdict {
    this.#options.logger.warn(
      { reason: error.reason, bytes: delivery.body.length, redelivered: delivery.redelivered },
      "message rejected",
    );
    return "reject";
  }

  /** A copy of a message whose action already ran (or was refused for good). */
  #alreadyDone(key: string, delivery: Delivery): Verdict {
    if (delivery.redelivered) {
      // The agent or the broker went down between the action and the ack: expected, nothing to do.
      this.#options.logger.info({ id: key }, `message ${key} already carried out; redelivery acknowledged`);
      return "ack";
    }
    return this.#rejected(new MessageRejectedError("replay", "already carried out"), delivery);
  }

  /** Journal start (on disk) -> action -> journal end; the ack waits for the end to be on disk. */
  async #carryOut(opened: OpenedMessage, inDoubt: boolean): Promise<Verdict> {
    const { logger, journal } = this.#options;
    const key = opened.replayKey;
    let finished: Promise<void> | undefined;
    const turn = this.#turn.then(async (): Promise<Verdict> => {
      try {
        await journal?.begin(key, opened.message.timestamp);
      } catch (error) {
        this.#guard.forget(opened);
        throw error;
      }
      let verdict: Verdict;
      try {
        verdict = await this.#run(opened, inDoubt);
      } catch (error) {
        const name = error instanceof Error ? error.name : "";
        if (!PERMANENT_ERRORS.has(name)) {
          // Unexpected (the engine or the file system failed, not the action): let the broker redeliver
          // it, and let the redelivery through the replay check and the journal.
          this.#guard.forget(opened);
          journal?.abandon(key).catch(() => undefined);
          throw error;
        }
        logger.error({ err: error, replayKey: key }, (error as Error).message);
        verdict = "reject";
      }
      // Not awaited here: the next message's start record can share this flush.
      finished = journal?.finish(key);
      finished?.catch(() => undefined);
      return verdict;
    });
    this.#turn = turn.catch(() => undefined);
    const verdict = await turn;
    await finished;
    return verdict;
  }

  async #run(opened: OpenedMessage, inDoubt: boolean): Promise<Verdict> {
    const { logger, engine, actionsDir } = this.#options;
    const message = opened.message;
    const id = "id" in message ? message.id : undefined;
    switch (message.cmd) {
      case "exec": {
        // Held to the same rules as what the server forwards, whoever put it in this queue.
        assertBanAllowed(this.#allowlist, message);
        if (!(OPERATIONS as readonly string[]).includes(message.action)) {
          // The schema allows any lower-case word; the engine would throw a TypeError (a retry) for it.
          throw new ParamRefusedError(
            "action",
            `${JSON.stringify(message.action)} is not a fail2ban operation`,
          );
        }
        if (inDoubt) await this.#undoInDoubt(message, opened.replayKey);
        const outcome = await engine.execute({
          file: message.file,
          action: message.action,
          params: message.params,
        });
        logActionOutcome(
          logger,
          { id, file: message.file, action: message.action, ip: message.params["ip"] },
          outcome,
        );
        this.#state?.reportCommand(message, outcome);
        // A failed command is done work too: it was run, logged, and retrying it blindly could repeat harm.
        return "ack";
      }
      case "update": {
        if (inDoubt) {
          logger.warn({ id }, `update of "${message.file}" was in doubt after a crash; writing it again`);
        }
        if (message.client !== this.name) {
          throw new UpdateRefusedError(`update for client "${message.client}" reached agent "${this.name}"`);
        }
        // An action file is commands this host will run: allow_update = no keeps that to its own admins.
        if (this.#options.peer.allowUpdate === false) {
          throw new UpdateRefusedError(
            `update of "${message.file}" refused: allow_update = no on this agent`,
          );
        }
        const content = decodeActionContent(message.content);
        await writeActionFile(actionsDir, message.file, content);
        engine.reload();
        logger.info({ id, file: message.file, bytes: content.length }, `File "${message.file}" updated`);
        this.#state?.reportCommand(message, { ok: true, exitCode: 0, durationMs: 0, stderr: "" });
        return "ack";
      }
      case "apply":
      case "sync":
        if (this.#state === undefined) {
          logger.warn({ id, cmd: message.cmd }, `"${message.cmd}" needs protocol 2 and a state_dir; ignored`);
          return "reject";
        }
        if (message.cmd === "apply") await this.#state.apply(message);
        else await this.#state.sync(message);
        return "ack";
      default:
        logger.warn({ id, cmd: message.cmd }, `"${message.cmd}" is not a command an agent runs`);
        return "reject";
    }
  }

  /**
   * An exec that was running when the agent crashed: it may have run fully, partly or not at all. A ban
   * is undone first (actionunban, which fails harmlessly where there is nothing to undo) so that running
   * it again leaves exactly one ban in effect; anything else runs again as it is.
   */
  async #undoInDoubt(message: Pick<ExecMessage, "file" | "action" | "params">, key: string): Promise<void> {
    const { logger, engine } = this.#options;
    const context = { id: key, file: message.file, action: message.action, ip: message.params["ip"] };
    if (!UNDO_BEFORE_RERUN.has(message.action)) {
      logger.warn(context, `${message.file}/${message.action} was in doubt after a crash; running it again`);
      return;
    }
    logger.warn(
      context,
      `${message.file}/${message.action} was in doubt after a crash; undoing it with actionunban, then running it again`,
    );
    const undo = await engine.execute({ file: message.file, action: "actionunban", params: message.params });
    logger.info(
      { ...context, ok: undo.ok, exitCode: undo.exitCode },
      undo.ok
        ? "in-doubt ban: actionunban done, running the ban again"
        : "in-doubt ban: actionunban failed (as expected if the ban had not taken effect), running the ban again",
    );
  }
}
