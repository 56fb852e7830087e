// The per-(action file, jail) state machine of fail2ban's CommandAction: which families are started
// and hold bans, start on demand, check/repair after a failed ban, commands not repeated per family.

import type { ActionInstance } from "./instance.js";
import { actionFamilies } from "./instance.js";
import {
  emptyTicketValues,
  finishCommand,
  type Operation,
  type RenderedCommand,
  type RenderOptions,
  staticOperation,
  ticketValues,
} from "./render.js";
import { replaceDynamicTags, replaceTag } from "./tags.js";

/** Runs one command of an operation; true when it succeeded (exit code 0). */
export type StepRunner = (
  operation: Operation,
  family: string,
  command: Exclude<RenderedCommand, null>,
  instance: ActionInstance,
) => Promise<boolean>;

/** What the state machine reports besides commands (fail2ban's log lines of these events). */
export interface LifecycleEvents {
  onInvariantFailed?: (family: string, recovering: boolean) => void;
  onRestoreFailed?: (family: string) => void;
}

const STARTED = 1;
const HAS_BANS = 2;

/**
 * One action of one jail, as CommandAction keeps it: `started[family]` (1 started, 2 holds bans) and
 * the last command each operation ran per family. Methods return false where fail2ban raises.
 */
export class ActionLifecycle {
  private readonly started = new Map<string, number>();
  private readonly executed = new Map<Operation, Map<string, string>>();
  /** True once a start without ticket (fail2ban's jail start) was attempted. */
  jailStarted = false;

  constructor(
    private readonly runStep: StepRunner,
    private readonly options: RenderOptions,
    private readonly events: LifecycleEvents = {},
  ) {}

  /** Families started (value 1 or 3), as a snapshot. */
  startedFamilies(): string[] {
    return [...this.started].filter(([, v]) => v).map(([family]) => family);
  }

  familiesWithBans(): string[] {
    return [...this.started].filter(([, v]) => (v & 3) === 3).map(([family]) => family);
  }

  private executedElsewhere(operation: Operation, family: string): string[] {
    return [...(this.executed.get(operation) ?? new Map<string, string>())]
      .filter(([f]) => f !== family)
      .map(([, command]) => command);
  }

  // CommandAction._operationExecuted (set, or delete this family and every family with the same command)
  private markExecuted(operation: Operation, family: string, command: string | null): void {
    if (command) {
      let byFamily = this.executed.get(operation);
      if (byFamily === undefined) {
        byFamily = new Map();
        this.executed.set(operation, byFamily);
      }
      byFamily.set(family, command);
      return;
    }
    const byFamily = this.executed.get(operation);
    const previous = byFamily?.get(family);
    if (byFamily === undefined || previous === undefined) return;
    byFamily.delete(family);
    for (const [other, value] of [...byFamily]) if (value === previous) byFamily.delete(other);
  }

  /** CommandAction._executeOperation for start/stop/flush/reload (no ticket: the empty one). */
  async executeOperation(
    instance: ActionInstance,
    operation: Operation,
    families: readonly string[] | undefined,
    afterExec?: (family: string, ok: boolean) => void,
  ): Promise<boolean> {
    const list = families === undefined || families.length === 0 ? this.startedFamilies() : families;
    let result = true;
    for (const family of list) {
      const command = staticOperation(instance, operation, family, this.options.hostname);
      let ok = true;
      if (command && !this.executedElsewhere(operation, family).includes(command)) {
        const dynamic = replaceDynamicTags(
          command,
          emptyTicketValues(instance, family, this.options),
          this.options.hostname,
        );
        const finished = finishCommand(instance, dynamic.script, dynamic.variables);
        if (finished !== null) ok = await this.runStep(operation, family, finished, instance);
        result &&= ok;
      }
      afterExec?.(family, ok);
      this.markExecuted(operation, family, ok ? command : null);
    }
    return result;
  }

  /** CommandAction._start: forced, or skipped for start-on-demand actions (they start at the first ban). */
  async start(instance: ActionInstance, family: string | undefined, forceStart: boolean): Promise<boolean> {
    if (instance.startOnDemand) {
      if (!forceStart) return true;
    } else if (!forceStart && family !== undefined && this.started.get(family)) {
      return true;
    }
    const families = family !== undefined ? [family] : actionFamilies(instance, this.options.ipv6 ?? true);
    return this.executeOperation(instance, "actionstart", families, (f, ok) => {
      if (ok) {
        this.markExecuted("actionstop", f, null);
        this.started.set(f, STARTED);
      }
    });
  }

  /** CommandAction._stop: one family, or every started one. */
  async stop(instance: ActionInstance, family?: string): Promise<boolean> {
    let families: string[];
    if (family === undefined) {
      families = this.startedFamilies();
      if (families.length === 0) return true;
      this.started.clear();
    } else {
      if (!this.started.has(family)) return true;
      this.started.set(family, 0);
      families = [family];
    }
    return this.executeOperation(instance, "actionstop", families, (f, ok) => {
      if (ok) this.markExecuted("actionstart", f, null);
    });
  }

  /** Stops the given families whether or not this process started them (an explicit request). */
  async forceStop(instance: ActionInstance, families: readonly string[]): Promise<boolean> {
    for (const family of families) this.started.delete(family);
    return this.executeOperation(instance, "actionstop", families, (f, ok) => {
      if (ok) this.markExecuted("actionstart", f, null);
    });
  }

  /** CommandAction.flush over the given families (default: those holding bans). */
  async flush(
    instance: ActionInstance,
    families: readonly string[] = this.familiesWithBans(),
  ): Promise<boolean> {
    if (families.length === 0) return true;
    return this.executeOperation(instance, "actionflush", families, (f, ok) => {
      const state = this.started.get(f);
      if (ok && state) this.started.set(f, state & ~HAS_BANS);
    });
  }

  /** CommandAction.ban / reban: start on demand, then the ban with check/repair. */
  async ban(
    instance: ActionInstance,
    operation: "actionban" | "actionreban" | "actionprolong",
  ): Promise<boolean> {
    const family = instance.address!.family;
    if (operation !== "actionprolong" && instance.startOnDemand && !this.started.get(family)) {
      if (!(await this.start(instance, family, true))) return false;
    }
    const effective =
      operation === "actionreban" && !instance.properties.get("actionreban") ? "actionban" : operation;
    if (!(await this.processCommand(instance, effective))) return false;
    if (operation !== "actionprolong")
      this.started.set(family, (this.started.get(family) ?? 0) | STARTED | HAS_BANS);
    return true;
  }

  /** CommandAction.unban, except that it runs even when this process holds no ban (see docs). */
  async unban(instance: ActionInstance): Promise<boolean> {
    return this.processCommand(instance, "actionunban");
  }

  /** The start a ban of `family` runs first when the action starts on demand (as ban() does). */
  async ensureStarted(instance: ActionInstance, family: string): Promise<boolean> {
    if (!instance.startOnDemand || this.started.get(family)) return true;
    return this.start(instance, family, true);
  }

  /** Whether a ban of `family` would run a start first (the jail's, or the family's on demand). */
  startPending(instance: ActionInstance, family: string): boolean {
    return instance.startOnDemand ? !this.started.get(family) : !this.jailStarted;
  }

  /** Records that `family` holds bans, after a ban that ran outside ban() (a batch) succeeded. */
  markBanned(family: string): void {
    this.started.set(family, (this.started.get(family) ?? 0) | STARTED | HAS_BANS);
  }

  /**
   * The command of a ticket operation as _processCmd renders it (null: nothing to run). A batch runs
   * it first; after a failure, retryAfterFailure goes on as _processCmd does.
   */
  renderTicketCommand(
    instance: ActionInstance,
    operation: "actionban" | "actionunban",
  ): Exclude<RenderedCommand, null> | null {
    const values = ticketValues(instance, this.options);
    const family = instance.address!.family;
    const command = replaceTag(
      `<${operation}>`,
      instance.properties,
      `family=${family}`,
      this.options.hostname,
      instance.action.config.mainFile,
    );
    const dynamic = replaceDynamicTags(command, values, this.options.hostname);
    return finishCommand(instance, dynamic.script, dynamic.variables);
  }

  /**
   * _processCmd after its first run failed elsewhere (in a batch): check (and repair), then one more
   * run; a ban that then succeeds is recorded as ban() records it.
   */
  async retryAfterFailure(
    instance: ActionInstance,
    operation: "actionban" | "actionunban",
  ): Promise<boolean> {
    const ok = await this.processCommand(instance, operation, 1);
    if (ok && operation === "actionban") this.markBanned(instance.address!.family);
    return ok;
  }

  // CommandAction._processCmd: run; on failure check (and repair) once, then run once more.
  private async processCommand(
    instance: ActionInstance,
    operation: Operation,
    failedRuns = 0,
  ): Promise<boolean> {
    const values = ticketValues(instance, this.options);
    const family = instance.address!.family;
    const file = instance.action.config.mainFile;
    let attempts = failedRuns;
    for (;;) {
      if (attempts > 0 && instance.properties.get("actioncheck")) {
        const beforeRepair = (): boolean => operation !== "actionunban" || instance.repairOnUnban;
        const sane = await this.invariantCheck(instance, family, beforeRepair, operation !== "actionunban");
        if (sane !== 1) return false;
      }
      const command = replaceTag(
        `<${operation}>`,
        instance.properties,
        `family=${family}`,
        this.options.hostname,
        file,
      );
      const dynamic = replaceDynamicTags(command, values, this.options.hostname);
      const finished = finishCommand(instance, dynamic.script, dynamic.variables);
      const ok = finished === null ? true : await this.runStep(operation, family, finished, instance);
      attempts += 1;
      if (ok || attempts > 1) return ok;
    }
  }

  /** CommandAction._invariantCheck: 1 sane (or restored), 0 not restorable, -1 repair not wanted. */
  async invariantCheck(
    instance: ActionInstance,
    family: string,
    beforeRepair: (() => boolean) | undefined,
    forceStart: boolean,
  ): Promise<number> {
    if (!forceStart && !this.started.has(family)) return 1;
    const check = staticOperation(instance, "actioncheck", family, this.options.hostname);
    const runStatic = async (operation: Operation, command: string): Promise<boolean> => {
      const finished = finishCommand(instance, command, []);
      return finished === null ? true : this.runStep(operation, family, finished, instance);
    };
    if (!check || (await runStatic("actioncheck", check))) return 1;
    if (beforeRepair && !beforeRepair()) {
      this.events.onInvariantFailed?.(family, false);
      return -1;
    }
    this.events.onInvariantFailed?.(family, true);
    const repair = staticOperation(instance, "actionrepair", family, this.options.hostname);
    if (repair) {
      if (!(await runStatic("actionrepair", repair))) {
        this.started.set(family, 0);
        this.events.onRestoreFailed?.(family);
        return 0;
      }
      this.started.set(family, STARTED);
    } else {
      await this.stop(instance, family);
      await this.start(instance, family, forceStart || !instance.startOnDemand);
    }
    if (this.started.get(family) && !(await runStatic("actioncheck", check))) {
      this.events.onRestoreFailed?.(family);
      return 0;
    }
    return 1;
  }
}
