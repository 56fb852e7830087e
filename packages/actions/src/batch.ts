// executeBatch: N requests with one process per set transaction, or several stock commands in one
// shell, each request still getting its own outcome, the same policy checks and the same lifecycle as
// execute(). A failed set transaction is checked (and repaired) once, then split in halves down to
// single elements; a failed stock command goes on through check, repair and a second run, as fail2ban.

import type { ActionLogger, ActionOutcome, ActionRequest, ActionStep } from "./engine.js";
import { ActionError, ParamRefusedError } from "./errors.js";
import { type ActionInstance, bindAction } from "./instance.js";
import type { TicketAddress } from "./ipaddr.js";
import type { ActionLifecycle } from "./lifecycle.js";
import type { LoadedAction } from "./load.js";
import { type CheckedParams, validateParams } from "./params.js";
import type { RenderedCommand, RenderOptions } from "./render.js";
import type { RunOptions } from "./run.js";
import { BoundSetAction, setBackendOf } from "./set-action.js";
import { remainingTimeout, type SetElement } from "./set-backend.js";
import { batchEntry, type CommandRunner, runShellBatch } from "./shell-batch.js";

type Command = Exclude<RenderedCommand, null>;
type TicketOperation = "actionban" | "actionunban";

/** One request's result in a batch: its outcome, or why it could not run at all (nothing ran for it). */
export interface BatchOutcome extends ActionOutcome {
  /** Set when the request was refused before anything ran (ParamRefusedError, ActionNotFoundError, ...). */
  error?: Error;
}

/** What the batch needs of the engine (its lock is held by the caller). */
export interface BatchHost {
  readonly logger: ActionLogger;
  readonly render: RenderOptions;
  readonly run: CommandRunner;
  readonly env: NodeJS.ProcessEnv | undefined;
  readonly maxSetBatch: number;
  readonly maxShellBatch: number;
  now(): number;
  timeoutSeconds(instance: ActionInstance): number;
  checkParams(file: string, params: Readonly<Record<string, string>>): LoadedAction;
  /** The policy part of checkParams (names, the default options' grammar). */
  checkPolicy(file: string, params: Readonly<Record<string, string>>): void;
  /** checkParams against an action already loaded for this batch (no look at the files again). */
  checkLoadedParams(loaded: LoadedAction, file: string, params: Readonly<Record<string, string>>): void;
  lifecycle(file: string, instance: ActionInstance, options: Record<string, string>): ActionLifecycle;
  /** Runs one command and returns its step (also recorded in the current capture). */
  step(
    file: string,
    operation: TicketOperation,
    family: string,
    command: Command,
    instance: ActionInstance,
    input?: string,
  ): Promise<ActionStep>;
  /** Runs `task` with the steps it makes collected (lifecycle calls record into it). */
  capture<T>(task: () => Promise<T>): Promise<{ value: T; steps: ActionStep[] }>;
  /** execute() without the lock, for requests a batch does not speed up. */
  single(file: string, operation: string, params: Record<string, string>): Promise<ActionOutcome>;
}

interface Item {
  index: number;
  request: ActionRequest;
  operation: TicketOperation;
  loaded: LoadedAction;
  options: Readonly<Record<string, string>>;
  optionsKey: string;
  set: boolean;
  /** The request's params, checked once (validateParams). */
  checked: CheckedParams;
}

/** The outcome of a request that could not run at all (refused, or the engine threw): nothing ran. */
export function notRunOutcome(error: unknown): BatchOutcome {
  const failure = error instanceof Error ? error : new Error(String(error));
  return {
    ok: false,
    command: null,
    exitCode: null,
    stderr: failure.message,
    durationMs: 0,
    timedOut: false,
    ran: false,
    steps: [],
    error: failure,
  };
}

function fromSteps(ok: boolean, main: ActionStep | undefined, steps: ActionStep[]): BatchOutcome {
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

const nothingToRun = (): BatchOutcome => fromSteps(true, undefined, []);

/** Runs `requests` in order; see ActionEngine.executeBatch. Never rejects for one bad request. */
export async function runBatch(host: BatchHost, requests: readonly ActionRequest[]): Promise<BatchOutcome[]> {
  const results: BatchOutcome[] = new Array(requests.length);
  let group: Item[] = [];
  const flush = async (): Promise<void> => {
    if (group.length === 0) return;
    const current = group;
    group = [];
    try {
      if (current[0]!.set) await runSetGroup(host, current, results);
      else await runShellGroup(host, current, results);
    } catch (error) {
      // a refusal that concerns the whole group (its caller options, its action file)
      for (const item of current) results[item.index] ??= notRunOutcome(error);
    }
  };
  // each file is read (and looked at on disk) once per batch; its positions verdict per option set
  const loadedFiles = new Map<string, { loaded: LoadedAction; set: boolean; optionsKey: string }>();
  for (const [index, request] of requests.entries()) {
    let item: Item | undefined;
    try {
      const { file, action, params } = request;
      if (action === "actionban" || action === "actionunban") {
        let known = loadedFiles.get(file);
        let checked: CheckedParams;
        let optionsKey: string;
        if (known === undefined) {
          const loaded = host.checkParams(file, params);
          checked = validateParams(params);
          optionsKey = `${file}\u0000${JSON.stringify(checked.options)}`;
          known = { loaded, set: setBackendOf(loaded) !== undefined, optionsKey };
          loadedFiles.set(file, known);
        } else {
          host.checkPolicy(file, params);
          checked = validateParams(params);
          const previous = group[group.length - 1];
          optionsKey =
            previous !== undefined &&
            previous.request.file === file &&
            sameOptions(previous.options, checked.options)
              ? previous.optionsKey
              : `${file}\u0000${JSON.stringify(checked.options)}`;
          if (optionsKey !== known.optionsKey) {
            host.checkLoadedParams(known.loaded, file, params);
            known.optionsKey = optionsKey;
          }
        }
        item = {
          index,
          request,
          operation: action,
          loaded: known.loaded,
          options: checked.options,
          optionsKey,
          set: known.set,
          checked,
        };
      }
    } catch (error) {
      await flush();
      results[index] = notRunOutcome(error);
      continue;
    }
    const last = group[group.length - 1];
    if (
      item === undefined ||
      (last !== undefined && (last.optionsKey !== item.optionsKey || last.loaded !== item.loaded))
    ) {
      await flush();
    }
    if (item !== undefined) {
      group.push(item);
      continue;
    }
    try {
      results[index] = await host.single(request.file, request.action, { ...request.params });
    } catch (error) {
      results[index] = notRunOutcome(error);
    }
  }
  await flush();
  return results;
}

function sameOptions(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

// The instance of one request: the group's binding with this request's ticket.
function withTicket(base: ActionInstance, checked: CheckedParams): ActionInstance {
  return { ...base, ticket: checked.ticket, address: checked.address };
}

function missingIp(operation: string): ParamRefusedError {
  return new ParamRefusedError("ip", `${operation} needs the ticket's ip`);
}

/** Starts the jail (once) and, on demand, the family: the steps, and false when a needed start failed. */
async function startFor(
  host: BatchHost,
  lifecycle: ActionLifecycle,
  instance: ActionInstance,
  file: string,
): Promise<{ ok: boolean; steps: ActionStep[] }> {
  const { value, steps } = await host.capture(async () => {
    if (!instance.startOnDemand && !lifecycle.jailStarted) {
      lifecycle.jailStarted = true;
      if (!(await lifecycle.start(instance, undefined, false))) {
        host.logger.warn(
          { action: file, jail: instance.jail },
          `${file}: actionstart failed, banning anyway (as fail2ban)`,
        );
      }
    }
    return lifecycle.ensureStarted(instance, instance.address!.family);
  });
  return { ok: value, steps };
}

interface SetWork {
  item: Item;
  address: TicketAddress;
  /** The element's transaction lines, joined. */
  lines: string;
  family: string;
  command: Command;
  commandKey: string;
  before: ActionStep[];
}

async function runSetGroup(host: BatchHost, group: Item[], results: BatchOutcome[]): Promise<void> {
  const first = group[0]!;
  const { file } = first.request;
  const backend = setBackendOf(first.loaded)!;
  const base = bindAction(first.loaded, first.request.params);
  const bound = new BoundSetAction(first.loaded, backend, first.options, host.render);
  const lifecycle = host.lifecycle(file, base, first.options);
  const now = host.now();
  const work: SetWork[] = [];
  const failedStart = new Map<string, ActionStep[]>();
  const commandKeys = new Map<Command, string>();
  const batchCommands = new Map<string, Command>();
  const commandKeyOf = (command: Command): string => {
    let key = commandKeys.get(command);
    if (key === undefined) {
      key = JSON.stringify(command);
      commandKeys.set(command, key);
    }
    return key;
  };
  for (const item of group) {
    try {
      const { address, ticket } = item.checked;
      if (address === undefined) throw missingIp(item.operation);
      let element: SetElement = { address };
      if (item.operation === "actionban") {
        if (base.norestored && ticket.restored === "1") {
          results[item.index] = nothingToRun();
          continue;
        }
        const timeout = remainingTimeout(ticket, now, backend.maxTimeoutSeconds);
        if (timeout === "over") {
          host.logger.info(
            { action: file, jail: base.jail, ip: address.text },
            `IP ${address.text}: the ban is over already, nothing to add`,
          );
          results[item.index] = nothingToRun();
          continue;
        }
        element = { address, timeoutSeconds: timeout };
      }
      let before: ActionStep[] = [];
      if (item.operation === "actionban") {
        const startFailed = failedStart.get(address.family);
        if (startFailed !== undefined) {
          results[item.index] = fromSteps(false, startFailed[startFailed.length - 1], startFailed);
          continue;
        }
      }
      if (item.operation === "actionban" && lifecycle.startPending(base, address.family)) {
        const started = await startFor(host, lifecycle, withTicket(base, item.checked), file);
        before = started.steps;
        if (!started.ok) {
          failedStart.set(address.family, started.steps);
          results[item.index] = fromSteps(false, started.steps[started.steps.length - 1], started.steps);
          continue;
        }
      }
      const target = bound.target(address.family);
      const lines =
        item.operation === "actionban"
          ? backend.addLines(target, element).join("\n")
          : backend.deleteLines(target, element).join("\n");
      let command = batchCommands.get(address.family);
      if (command === undefined) {
        command = bound.command("actionset_batch", address.family);
        batchCommands.set(address.family, command);
      }
      work.push({
        item,
        address,
        lines,
        family: address.family,
        command,
        commandKey: commandKeyOf(command),
        before,
      });
    } catch (error) {
      if (!(error instanceof ActionError)) throw error;
      results[item.index] = notRunOutcome(error);
    }
  }
  // chunks: consecutive work with the same batch command, at most maxSetBatch each
  let chunk: SetWork[] = [];
  const runChunk = async (): Promise<void> => {
    if (chunk.length === 0) return;
    const current = chunk;
    chunk = [];
    await applySetChunk(host, lifecycle, bound, base, current, results, false);
  };
  for (const entry of work) {
    if (chunk.length > 0 && (chunk[0]!.commandKey !== entry.commandKey || chunk.length >= host.maxSetBatch)) {
      await runChunk();
    }
    chunk.push(entry);
  }
  await runChunk();
}

async function applySetChunk(
  host: BatchHost,
  lifecycle: ActionLifecycle,
  bound: BoundSetAction,
  base: ActionInstance,
  chunk: SetWork[],
  results: BatchOutcome[],
  checked: boolean,
): Promise<void> {
  const first = chunk[0]!;
  const { file } = first.item.request;
  let input = "";
  let operation: TicketOperation = "actionunban";
  for (const w of chunk) {
    input += `${w.lines}\n`;
    if (w.item.operation === "actionban") operation = "actionban";
  }
  const step = await host.step(file, operation, first.family, first.command, base, input);
  if (step.ok) {
    const alone = [step];
    for (const w of chunk) {
      if (w.item.operation === "actionban") lifecycle.markBanned(w.family);
      results[w.item.index] = fromSteps(true, step, w.before.length === 0 ? alone : [...w.before, step]);
    }
    return;
  }
  if (!checked && base.properties.get("actioncheck")) {
    // the set or its rule may be gone (deleted by hand, a firewall reload): check and repair once
    const { steps } = await host.capture(() => lifecycle.invariantCheck(base, first.family, undefined, true));
    for (const w of chunk) w.before = [...w.before, step, ...steps];
    await applySetChunk(host, lifecycle, bound, base, chunk, results, true);
    return;
  }
  if (chunk.length > 1) {
    const half = Math.ceil(chunk.length / 2);
    await applySetChunk(host, lifecycle, bound, base, chunk.slice(0, half), results, true);
    await applySetChunk(host, lifecycle, bound, base, chunk.slice(half), results, true);
    return;
  }
  if (first.item.operation === "actionunban") {
    // an unban whose add-then-delete fails (nft: an address inside a banned CIDR overlaps it) is done
    // if the set does not hold the address
    const probe = await probeSets(host, file, bound, base, [first.address]);
    if (probe.get(first.address.text) === false) {
      results[first.item.index] = fromSteps(true, step, [...first.before, step]);
      return;
    }
  }
  host.logger.error(
    { action: file, jail: base.jail, ip: first.address.text, stderr: step.stderr.slice(0, 2000) },
    `${first.item.operation} failed in the set backend`,
  );
  results[first.item.index] = fromSteps(false, step, [...first.before, step]);
}

/**
 * Which of `addresses` the action's sets hold: one `actionset_list` per family, parsed. An address
 * whose listing failed is left out of the map (unchecked).
 */
export async function probeSets(
  host: Pick<BatchHost, "run" | "env" | "logger" | "timeoutSeconds">,
  file: string,
  bound: BoundSetAction,
  base: ActionInstance,
  addresses: ReadonlyArray<{ text: string; family: string }>,
): Promise<Map<string, boolean>> {
  const found = new Map<string, boolean>();
  for (const family of ["inet4", "inet6"] as const) {
    const wanted = addresses.filter((a) => a.family === family);
    if (wanted.length === 0) continue;
    const result = await host.run(bound.command("actionset_list", family), {
      timeoutMs: host.timeoutSeconds(base) * 1000,
      outputLimitBytes: 256 * 1024 * 1024,
      ...(host.env ? { env: host.env } : {}),
    } satisfies RunOptions);
    if (result.exitCode !== 0 || result.timedOut || result.stdoutTruncated) {
      host.logger.warn(
        {
          action: file,
          jail: base.jail,
          family,
          exitCode: result.exitCode,
          stderr: result.stderr.slice(0, 2000),
        },
        `${file}: actionset_list failed; bans of ${family} unchecked`,
      );
      continue;
    }
    let present: Set<string>;
    try {
      present = bound.backend.parseListing(result.stdout);
    } catch (error) {
      host.logger.warn({ action: file, err: error }, `${file}: cannot read the listing of actionset_list`);
      continue;
    }
    for (const address of wanted) found.set(address.text, present.has(address.text));
  }
  return found;
}

interface ShellWork {
  item: Item;
  instance: ActionInstance;
  command: Command;
  before: ActionStep[];
}

async function runShellGroup(host: BatchHost, group: Item[], results: BatchOutcome[]): Promise<void> {
  const first = group[0]!;
  const { file } = first.request;
  const base = bindAction(first.loaded, first.request.params);
  const lifecycle = host.lifecycle(file, base, first.options);
  let pending: ShellWork[] = [];
  const flush = async (): Promise<void> => {
    while (pending.length > 0) {
      const current = pending.slice(0, host.maxShellBatch);
      pending = pending.slice(current.length);
      const rest = await runShellChunk(host, lifecycle, current, results);
      pending = [...rest, ...pending];
    }
  };
  for (const item of group) {
    try {
      const instance = withTicket(base, item.checked);
      if (instance.address === undefined) throw missingIp(item.operation);
      let before: ActionStep[] = [];
      if (item.operation === "actionban") {
        if (instance.norestored && instance.ticket.restored === "1") {
          host.logger.info(
            { action: file, jail: instance.jail, ip: instance.address.text },
            `IP ${instance.address.text} restored: ${file} skips restored tickets`,
          );
          results[item.index] = nothingToRun();
          continue;
        }
        if (lifecycle.startPending(instance, instance.address.family)) {
          // a start runs before this ban and after every ban before it
          await flush();
          const started = await startFor(host, lifecycle, instance, file);
          before = started.steps;
          if (!started.ok) {
            results[item.index] = fromSteps(false, started.steps[started.steps.length - 1], started.steps);
            continue;
          }
        }
      }
      const command = lifecycle.renderTicketCommand(instance, item.operation);
      if (command === null) {
        if (item.operation === "actionban") lifecycle.markBanned(instance.address.family);
        results[item.index] = fromSteps(true, undefined, before);
        continue;
      }
      if (batchEntry(command) === undefined) {
        await flush();
        results[item.index] = await host.single(file, item.operation, { ...item.request.params });
        continue;
      }
      pending.push({ item, instance, command, before });
    } catch (error) {
      if (!(error instanceof ActionError)) throw error;
      results[item.index] = notRunOutcome(error);
    }
  }
  await flush();
}

// Runs one shell batch; returns the work the driver did not reach (after a failure), to run next.
async function runShellChunk(
  host: BatchHost,
  lifecycle: ActionLifecycle,
  chunk: ShellWork[],
  results: BatchOutcome[],
): Promise<ShellWork[]> {
  const first = chunk[0]!;
  const { file } = first.item.request;
  const { results: ran, run } = await runShellBatch(
    chunk.map((w) => w.command),
    host.run,
    { timeoutMs: host.timeoutSeconds(first.instance) * 1000, ...(host.env ? { env: host.env } : {}) },
  );
  const share = run.durationMs / chunk.length;
  for (const [position, w] of chunk.entries()) {
    const result = ran[position]!;
    if (!result.ran) {
      if (position === 0) {
        // the driver reported nothing (it could not start, or was killed): this one goes the single way
        results[w.item.index] = await host.single(file, w.item.operation, { ...w.item.request.params });
        return chunk.slice(1);
      }
      return chunk.slice(position);
    }
    const family = w.instance.address!.family;
    const step: ActionStep = {
      operation: w.item.operation,
      family,
      command: w.command,
      ok: result.exitCode === 0,
      exitCode: result.exitCode,
      signal: null,
      stdout: result.stdout,
      stderr: result.stderr,
      durationMs: share,
      timedOut: false,
    };
    if (step.ok) {
      if (w.item.operation === "actionban") lifecycle.markBanned(family);
      results[w.item.index] = fromSteps(true, step, [...w.before, step]);
      continue;
    }
    host.logger.error(
      {
        action: file,
        operation: w.item.operation,
        family,
        exitCode: result.exitCode,
        stderr: result.stderr.slice(0, 2000),
      },
      `${w.item.operation} failed`,
    );
    const { value: ok, steps } = await host.capture(() =>
      lifecycle.retryAfterFailure(w.instance, w.item.operation),
    );
    const all = [...w.before, step, ...steps];
    const own = steps.filter((s) => s.operation === w.item.operation);
    results[w.item.index] = fromSteps(ok, own[own.length - 1] ?? step, all);
    return chunk.slice(position + 1);
  }
  return [];
}
