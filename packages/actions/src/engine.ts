// ActionEngine: what an agent uses to run a message's action as fail2ban would, with fail2ban's
// lifecycle (start before the first ban, check/repair after a failed ban, stop on shutdown).

import { hostname as osHostname } from "node:os";
import {
  assertFunction,
  assertNonEmptyString,
  assertObject,
  assertOneOf,
  assertPositiveNumber,
  assertStringRecord,
} from "./assert.js";
import { type BatchHost, type BatchOutcome, probeSets, runBatch } from "./batch.js";
import { ParamRefusedError } from "./errors.js";
import { type ActionInstance, actionFamilies, bindAction } from "./instance.js";
import { ActionLifecycle } from "./lifecycle.js";
import { actionChanged, assertActionName, type LoadedAction, loadAction } from "./load.js";
import { ParamPolicy } from "./param-policy.js";
import { isTicketKey, validateParams } from "./params.js";
import { assertOptionsAsData } from "./positions.js";
import {
  finishCommand,
  lifecycleFamilies,
  OPERATIONS,
  type Operation,
  type RenderedCommand,
  type RenderOptions,
  staticOperation,
} from "./render.js";
import { DEFAULT_TIMEOUT_SECONDS, type RunOptions, type RunResult, runCommand } from "./run.js";
import { BoundSetAction, setBackendOf } from "./set-action.js";
import type { HostNames } from "./tags.js";

/** The subset of a pino logger the engine writes to. */
export interface ActionLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

/** A message's request: run operation `action` of action file `file` with `params`. */
export interface ActionRequest {
  /** The action file name, without `.conf` (e.g. "iptables-multiport"). */
  file: string;
  /** The operation: actionban, actionunban, actionstart, actionstop, actioncheck, ... */
  action: string;
  params: Record<string, string>;
}

/** One command the engine ran for a request (a ban may also run actionstart, actioncheck, ...). */
export interface ActionStep {
  operation: Operation;
  family: string;
  command: Exclude<RenderedCommand, null>;
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

export interface ActionOutcome {
  /** The requested operation succeeded (fail2ban's notion: exit code 0, after its retries). */
  ok: boolean;
  /** The command of the requested operation (the last one run for it), null when it had nothing to run. */
  command: RenderedCommand;
  exitCode: number | null;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  /** False when nothing was executed (empty operation, or a restored ticket the action skips). */
  ran: boolean;
  /** Every command run for the request, in order. */
  steps: ActionStep[];
}

export interface ActionEngineOptions {
  /** The actions directory (the caller picks the first existing of the configured candidates). */
  actionsDir: string;
  logger: ActionLogger;
  /** `<fq-hostname>` / `<sh-hostname>` (default: from os.hostname()). */
  hostname?: HostNames;
  /** Timeout of actions that set none (default fail2ban's 60 s). */
  defaultTimeoutSeconds?: number;
  /** Runs a command (injectable for tests). */
  run?: (command: Exclude<RenderedCommand, null>, options: RunOptions) => Promise<RunResult>;
  /** Unix time in seconds (injectable for tests). */
  now?: () => number;
  /** Whether IPv6 is usable on this host (family-conditional actions start for inet6 too). Default true. */
  ipv6?: boolean;
  /** Environment of the commands (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /**
   * What a request's params may set (default ParamPolicy.DEFAULT: ticket values and name, port,
   * protocol, chain). The agent passes the policy of its config's `allow_params`.
   */
  paramPolicy?: ParamPolicy;
  /** Elements per set transaction in executeBatch (default 10,000); a larger batch takes several. */
  maxSetBatch?: number;
  /** Stock commands per shell in executeBatch (default 200). */
  maxShellBatch?: number;
}

/** What probeBatch found for one held ban. */
export type SetProbeOutcome =
  | { state: "present" }
  | { state: "missing" }
  | { state: "unchecked"; reason: string };

/** This host's names as fail2ban would show them (`<sh-hostname>` is the part before the first dot). */
export function localHostNames(): HostNames {
  const name = osHostname();
  return { fq: name, short: name.split(".")[0] ?? name };
}

interface JailState {
  lifecycle: ActionLifecycle;
  /** Caller options of the last message, to stop with at shutdown. */
  options: Record<string, string>;
}

/**
 * Runs fail2ban action files for an agent. Definitions are cached and re-read when a file changes
 * (or after reload()); one command runs at a time, as under fail2ban's command lock.
 */
export class ActionEngine {
  private readonly actionsDir: string;
  private readonly logger: ActionLogger;
  private readonly render: RenderOptions;
  private readonly defaultTimeoutSeconds: number;
  private readonly run: NonNullable<ActionEngineOptions["run"]>;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly cache = new Map<string, LoadedAction>();
  private readonly jails = new Map<string, JailState>();
  private queue: Promise<unknown> = Promise.resolve();
  private activeSteps: ActionStep[] | undefined;
  private readonly now: () => number;
  private readonly maxSetBatch: number;
  private readonly maxShellBatch: number;
  /** What messages may set: see checkParams. */
  readonly paramPolicy: ParamPolicy;

  constructor(options: ActionEngineOptions) {
    assertObject(options, "options");
    assertNonEmptyString(options.actionsDir, "options.actionsDir");
    assertObject(options.logger, "options.logger");
    if (options.defaultTimeoutSeconds !== undefined) {
      assertPositiveNumber(options.defaultTimeoutSeconds, "options.defaultTimeoutSeconds");
    }
    if (options.run !== undefined) assertFunction(options.run, "options.run");
    if (options.now !== undefined) assertFunction(options.now, "options.now");
    const hostname = options.hostname ?? localHostNames();
    assertObject(hostname, "options.hostname");
    for (const key of ["fq", "short"] as const) {
      const value = hostname[key];
      if (typeof value !== "string" || value.includes("\0")) {
        throw new TypeError(`"options.hostname.${key}" expected a string without NUL`);
      }
    }
    this.actionsDir = options.actionsDir;
    this.logger = options.logger;
    this.render = {
      hostname,
      ...(options.now ? { now: options.now } : {}),
      ...(options.ipv6 !== undefined ? { ipv6: options.ipv6 } : {}),
    };
    this.defaultTimeoutSeconds = options.defaultTimeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    this.run = options.run ?? runCommand;
    this.env = options.env;
    if (options.paramPolicy !== undefined && !(options.paramPolicy instanceof ParamPolicy)) {
      throw new TypeError(`"options.paramPolicy" expected a ParamPolicy`);
    }
    this.paramPolicy = options.paramPolicy ?? ParamPolicy.DEFAULT;
    this.now = options.now ?? (() => Date.now() / 1000);
    for (const key of ["maxSetBatch", "maxShellBatch"] as const) {
      const value = options[key];
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new TypeError(`"options.${key}" expected a positive integer, got ${String(value)}`);
      }
    }
    this.maxSetBatch = options.maxSetBatch ?? 10_000;
    this.maxShellBatch = options.maxShellBatch ?? 200;
  }

  /** Drops cached definitions (an `update` wrote a new action file). Started actions stay started. */
  reload(): void {
    this.cache.clear();
  }

  private load(file: string): LoadedAction {
    const cached = this.cache.get(file);
    if (cached !== undefined && !actionChanged(cached)) return cached;
    const loaded = loadAction(this.actionsDir, file);
    this.cache.set(file, loaded);
    return loaded;
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private jail(file: string, instance: ActionInstance): JailState {
    const key = `${file}\u0000${instance.jail}`;
    let state = this.jails.get(key);
    if (state === undefined) {
      const lifecycle = new ActionLifecycle(
        (operation, family, command, bound) => this.step(file, operation, family, command, bound),
        this.render,
        {
          onInvariantFailed: (family, recovering) =>
            this.logger.error(
              { action: file, jail: instance.jail, family },
              recovering
                ? "Invariant check failed. Trying to restore a sane environment"
                : "Invariant check failed. Unban is impossible.",
            ),
          onRestoreFailed: (family) =>
            this.logger.error({ action: file, jail: instance.jail, family }, "Unable to restore environment"),
        },
      );
      state = { lifecycle, options: {} };
      this.jails.set(key, state);
    }
    return state;
  }

  private timeoutSeconds(instance: ActionInstance): number {
    return instance.timeoutConfigured ? instance.timeoutSeconds : this.defaultTimeoutSeconds;
  }

  // Runs one command and records it in the steps of the request being executed.
  private async step(
    file: string,
    operation: Operation,
    family: string,
    command: Exclude<RenderedCommand, null>,
    instance: ActionInstance,
  ): Promise<boolean> {
    return (await this.runStep(file, operation, family, command, instance)).ok;
  }

  private async runStep(
    file: string,
    operation: Operation,
    family: string,
    command: Exclude<RenderedCommand, null>,
    instance: ActionInstance,
    input?: string,
  ): Promise<ActionStep> {
    const seconds = this.timeoutSeconds(instance);
    const result = await this.run(command, {
      timeoutMs: seconds * 1000,
      ...(this.env ? { env: this.env } : {}),
      ...(input === undefined ? {} : { input }),
    });
    const ok = result.exitCode === 0 && !result.timedOut;
    const step: ActionStep = {
      operation,
      family,
      command,
      ok,
      exitCode: result.exitCode,
      signal: result.signal,
      stdout: result.stdout,
      stderr: result.stderr,
      durationMs: result.durationMs,
      timedOut: result.timedOut,
    };
    this.activeSteps?.push(step);
    const context = { action: file, operation, family: family || undefined, exitCode: result.exitCode };
    if (result.timedOut)
      this.logger.error(
        { ...context, timeoutSeconds: seconds },
        `${operation} timed out after ${seconds} seconds`,
      );
    else if (!ok)
      this.logger.error(
        { ...context, signal: result.signal, stderr: result.stderr.slice(0, 2000) },
        `${operation} failed`,
      );
    else this.logger.debug(context, `${operation} done`);
    return step;
  }

  /**
   * Runs a request: loads the action (cached), checks the params, renders and runs as fail2ban does.
   * Throws ActionNotFoundError, ActionConfigError or ParamRefusedError before anything runs.
   */
  async execute(request: ActionRequest): Promise<ActionOutcome> {
    assertObject(request, "request");
    assertActionName(request.file);
    assertOneOf(request.action, OPERATIONS, "request.action");
    assertStringRecord(request.params, "request.params");
    const { file, action, params } = request;
    return this.serially(() => this.executeNow(file, action as Operation, { ...params }));
  }

  /**
   * Runs `requests` in order, each with its own outcome (`error` set, nothing run, for one refused:
   * the same checks as execute()). Bans and unbans of a set-backend action (`actionset_type`) go
   * into one transaction per batch command (`nft -f -`, `ipset restore`), at most `maxSetBatch`
   * elements each; a failed transaction is checked and repaired once, then split down to single
   * elements. Bans and unbans of other actions run several to a shell (`maxShellBatch`), in order,
   * each with its own exit status and output; a failed one goes on through check, repair and a
   * second run before the next. Other operations run as execute() runs them. Lifecycle as execute():
   * actionstart before the first ban (per family for on-demand actions). One command at a time.
   */
  executeBatch(requests: readonly ActionRequest[]): Promise<BatchOutcome[]> {
    if (!Array.isArray(requests)) throw new TypeError(`"requests" expected an array`);
    const checked = requests.map((request, index) => {
      try {
        assertObject(request, `requests[${index}]`);
        assertActionName(request.file);
        assertOneOf(request.action, OPERATIONS, `requests[${index}].action`);
        assertStringRecord(request.params, `requests[${index}].params`);
        const valid: ActionRequest = {
          file: request.file,
          action: request.action,
          params: { ...request.params },
        };
        return valid;
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    });
    return this.serially(async () => {
      const valid = checked.filter((c): c is ActionRequest => !(c instanceof Error));
      const outcomes = await runBatch(this.batchHost(), valid);
      let next = 0;
      return checked.map((c) =>
        c instanceof Error
          ? {
              ok: false,
              command: null,
              exitCode: null,
              stderr: c.message,
              durationMs: 0,
              timedOut: false,
              ran: false,
              steps: [],
              error: c,
            }
          : outcomes[next++]!,
      );
    });
  }

  private batchHost(): BatchHost {
    return {
      logger: this.logger,
      render: this.render,
      run: this.run,
      env: this.env,
      maxSetBatch: this.maxSetBatch,
      maxShellBatch: this.maxShellBatch,
      now: this.now,
      timeoutSeconds: (instance) => this.timeoutSeconds(instance),
      checkParams: (file, params) => this.checkParams(file, params),
      checkPolicy: (file, params) => this.paramPolicy.assertAllowed(file, params),
      checkLoadedParams: (loaded, file, params) => {
        this.paramPolicy.assertAllowed(file, params);
        assertOptionsAsData(loaded, params, this.render.hostname);
      },
      lifecycle: (file, instance, options) => {
        const state = this.jail(file, instance);
        state.options = options;
        return state.lifecycle;
      },
      step: (file, operation, family, command, instance, input) =>
        this.runStep(file, operation, family, command, instance, input),
      capture: async (task) => {
        const outer = this.activeSteps;
        const steps: ActionStep[] = [];
        this.activeSteps = steps;
        try {
          return { value: await task(), steps };
        } finally {
          this.activeSteps = outer;
        }
      },
      single: (file, operation, params) => this.executeNow(file, operation as Operation, params),
    };
  }

  /**
   * Whether each held ban (a ban request's file and params) is in its action's set: one
   * `actionset_list` per (action file, caller options, family), however many bans. "unchecked" for
   * an action without a set backend, a refused request or a listing that failed.
   */
  probeBatch(requests: readonly ActionRequest[]): Promise<SetProbeOutcome[]> {
    if (!Array.isArray(requests)) throw new TypeError(`"requests" expected an array`);
    return this.serially(async () => {
      const outcomes: SetProbeOutcome[] = requests.map(() => ({ state: "unchecked", reason: "not probed" }));
      const groups = new Map<string, Array<{ index: number; text: string; family: string }>>();
      const bound = new Map<string, { set: BoundSetAction; base: ActionInstance; file: string }>();
      for (const [index, request] of requests.entries()) {
        try {
          assertObject(request, `requests[${index}]`);
          assertActionName(request.file);
          assertStringRecord(request.params, `requests[${index}].params`);
          const loaded = this.checkParams(request.file, request.params);
          const backend = setBackendOf(loaded);
          if (backend === undefined) {
            outcomes[index] = {
              state: "unchecked",
              reason: `${request.file} has no set backend (actionset_type)`,
            };
            continue;
          }
          const { address, options } = validateParams(request.params);
          if (address === undefined) throw new ParamRefusedError("ip", "a probe needs the ban's ip");
          const key = `${request.file}\u0000${JSON.stringify(Object.entries(options).sort())}`;
          if (!bound.has(key)) {
            bound.set(key, {
              set: new BoundSetAction(loaded, backend, { ...options }, this.render),
              base: bindAction(loaded, request.params),
              file: request.file,
            });
          }
          const list = groups.get(key) ?? [];
          list.push({ index, text: address.text, family: address.family });
          groups.set(key, list);
        } catch (error) {
          outcomes[index] = {
            state: "unchecked",
            reason: error instanceof Error ? error.message : String(error),
          };
        }
      }
      for (const [key, list] of groups) {
        const { set, base, file } = bound.get(key)!;
        let found: Map<string, boolean>;
        try {
          found = await probeSets(this.batchHost(), file, set, base, list);
        } catch (error) {
          for (const entry of list) {
            outcomes[entry.index] = {
              state: "unchecked",
              reason: error instanceof Error ? error.message : String(error),
            };
          }
          continue;
        }
        for (const entry of list) {
          const present = found.get(entry.text);
          outcomes[entry.index] =
            present === undefined
              ? { state: "unchecked", reason: `the listing of ${file} (${entry.family}) failed` }
              : present
                ? { state: "present" }
                : { state: "missing" };
        }
      }
      return outcomes;
    });
  }

  /**
   * Throws ParamRefusedError (nothing runs) unless this host lets a message set every param of `params`
   * for action file `file` and none of them lands where a program or a file is named.
   */
  checkParams(file: string, params: Readonly<Record<string, string>>): LoadedAction {
    this.paramPolicy.assertAllowed(file, params);
    const loaded = this.load(file);
    assertOptionsAsData(loaded, params, this.render.hostname);
    return loaded;
  }

  private async executeNow(
    file: string,
    operation: Operation,
    params: Record<string, string>,
  ): Promise<ActionOutcome> {
    const instance = bindAction(this.checkParams(file, params), params);
    const steps: ActionStep[] = [];
    this.activeSteps = steps;
    try {
      const state = this.jail(file, instance);
      const { lifecycle } = state;
      const ip = instance.address?.text;
      const logContext = { action: file, jail: instance.jail, ...(ip ? { ip } : {}) };
      let ok: boolean;
      switch (operation) {
        case "actionban":
        case "actionreban":
        case "actionprolong": {
          if (instance.address === undefined) throw missingIp(operation);
          if (operation !== "actionprolong" && instance.norestored && instance.ticket.restored === "1") {
            this.logger.info(logContext, `IP ${ip} restored: ${file} skips restored tickets`);
            return outcome(true, operation, steps);
          }
          if (!instance.startOnDemand && !lifecycle.jailStarted) {
            lifecycle.jailStarted = true;
            if (!(await lifecycle.start(instance, undefined, false))) {
              this.logger.warn(logContext, `${file}: actionstart failed, banning anyway (as fail2ban)`);
            }
          }
          ok = await lifecycle.ban(instance, operation);
          state.options = callerOptions(params);
          if (!ok) this.logger.debug(logContext, `Error banning ${ip}`);
          break;
        }
        case "actionunban": {
          if (instance.address === undefined) throw missingIp(operation);
          ok = await lifecycle.unban(instance);
          if (!ok) this.logger.debug(logContext, `Error unbanning ${ip}`);
          break;
        }
        case "actionstart": {
          const family = instance.startOnDemand && instance.address ? instance.address.family : undefined;
          ok = await lifecycle.start(instance, family, true);
          lifecycle.jailStarted = true;
          state.options = callerOptions(params);
          break;
        }
        case "actionstop": {
          const started = lifecycle.startedFamilies();
          if (instance.startOnDemand && instance.address) {
            ok = await lifecycle.forceStop(instance, [instance.address.family]);
          } else if (started.length > 0) {
            ok = await lifecycle.stop(instance);
          } else {
            ok = await lifecycle.forceStop(instance, lifecycleFamilies(instance, this.render));
          }
          lifecycle.jailStarted = false;
          break;
        }
        case "actionflush": {
          const withBans = lifecycle.familiesWithBans();
          const families =
            withBans.length > 0
              ? withBans
              : instance.address
                ? [instance.address.family]
                : lifecycleFamilies(instance, this.render);
          ok = await lifecycle.flush(instance, families);
          break;
        }
        case "actionreload": {
          const started = lifecycle.startedFamilies();
          ok = await lifecycle.executeOperation(
            instance,
            "actionreload",
            started.length > 0 ? started : lifecycleFamilies(instance, this.render),
          );
          break;
        }
        case "actioncheck":
        case "actionrepair": {
          const families = instance.address
            ? [instance.address.family]
            : actionFamilies(instance, this.render.ipv6 ?? true);
          const seen = new Set<string>();
          ok = true;
          for (const family of families) {
            const command = staticOperation(instance, operation, family, this.render.hostname);
            if (!command || seen.has(command)) continue;
            seen.add(command);
            const finished = finishCommand(instance, command, []);
            if (finished !== null) ok = (await this.step(file, operation, family, finished, instance)) && ok;
          }
          break;
        }
      }
      return outcome(ok, operation, steps);
    } finally {
      this.activeSteps = undefined;
    }
  }

  /** Runs actionstop for every started (action file, jail[, family]): call on agent shutdown. */
  stopAll(): Promise<void> {
    return this.serially(async () => {
      for (const [key, state] of this.jails) {
        const file = key.slice(0, key.indexOf("\u0000"));
        if (state.lifecycle.startedFamilies().length === 0) continue;
        const steps: ActionStep[] = [];
        this.activeSteps = steps;
        try {
          const instance = bindAction(this.checkParams(file, state.options), state.options);
          const ok = await state.lifecycle.stop(instance);
          if (!ok) this.logger.error({ action: file, jail: instance.jail }, `${file}: actionstop failed`);
        } catch (error) {
          this.logger.error({ action: file, err: error }, `${file}: cannot stop`);
        } finally {
          this.activeSteps = undefined;
        }
      }
      this.jails.clear();
    });
  }
}

function missingIp(operation: Operation): ParamRefusedError {
  return new ParamRefusedError("ip", `${operation} needs the ticket's ip`);
}

function callerOptions(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) if (!isTicketKey(key)) out[key] = value;
  return out;
}

function outcome(ok: boolean, operation: Operation, steps: ActionStep[]): ActionOutcome {
  const own = steps.filter(
    (s) => s.operation === operation || (operation === "actionreban" && s.operation === "actionban"),
  );
  const main = own[own.length - 1] ?? (ok ? undefined : steps[steps.length - 1]);
  return {
    ok,
    command: main?.command ?? null,
    exitCode: main?.exitCode ?? null,
    stderr: main?.stderr ?? "",
    durationMs: steps.reduce((sum, s) => sum + s.durationMs, 0),
    timedOut: main?.timedOut ?? false,
    ran: steps.length > 0,
    steps,
  };
}
