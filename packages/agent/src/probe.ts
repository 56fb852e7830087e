// Whether a held ban is still in effect on this host: the action file's `actionprobe` (a net2ban option
// fail2ban ignores), rendered exactly as its actionban would be for that ban and run. fail2ban itself
// offers no such check (`actioncheck` only checks the chain exists), so actions without a probe are
// not checked and a rule deleted by hand stays unnoticed for them. Also whether an action skips
// restored tickets (`norestored`), for the restore of held bans after a restart. Bans of a set-backend
// action (`actionset_type`) are probed all at once instead: one listing of the whole set per family
// (ActionEngine.probeBatch), however many bans.
import {
  type ActionEngine,
  actionChanged,
  assertOptionsAsData,
  bindAction,
  type LoadedAction,
  loadAction,
  localHostNames,
  ParamPolicy,
  type RenderedCommand,
  type RenderedOperation,
  renderOperation,
  runCommand,
  setBackendOf,
} from "@net2ban/actions";

/** What a probe found: in effect, gone, no probe in this action, or no answer (error, timeout). */
export type ProbeOutcome =
  | { state: "present" }
  | { state: "missing"; exitCode: number | null; stderr: string }
  | { state: "unchecked"; reason: string };

export interface ProbeRequest {
  file: string;
  /** Params of the ban as its actionban ran (ip and name included). */
  params: Record<string, string>;
}

export interface ProberOptions {
  actionsDir: string;
  timeoutSeconds: number;
  /** Runs a command (tests count or fake them). */
  run?: typeof runCommand;
  /** What a held ban's params may set (the agent's engine's policy); default ParamPolicy.DEFAULT. */
  paramPolicy?: ParamPolicy;
  /** Lists the sets of set-backend actions (the agent's engine); without it they are probed one by one. */
  sets?: Pick<ActionEngine, "probeBatch">;
}

type Sections = LoadedAction["config"]["sections"];
const PROBE = "actionprobe";

/**
 * The action with its `actionban` replaced by its `actionprobe` (the family-specific ones too), so the
 * probe is rendered by the same code, with the same tags, values and quoting as the ban it checks.
 * Undefined when the action has no probe.
 */
export function probeAction(action: LoadedAction): LoadedAction | undefined {
  const definition = action.config.sections.get("Definition");
  const probe = definition?.get(PROBE);
  if (definition === undefined || probe === undefined || probe.value.trim() === "") return undefined;
  const replaced = new Map(definition);
  for (const key of definition.keys()) {
    if (key === "actionban" || key.startsWith("actionban?")) replaced.delete(key);
  }
  for (const [key, value] of definition) {
    if (key === PROBE) replaced.set("actionban", value);
    else if (key.startsWith(`${PROBE}?`)) replaced.set(`actionban${key.slice(PROBE.length)}`, value);
  }
  const sections: Sections = new Map(action.config.sections);
  sections.set("Definition", replaced);
  return { ...action, config: { ...action.config, sections } };
}

/** Runs probes; action files are read once and again when they change on disk. */
export class BanProber {
  readonly #options: ProberOptions;
  readonly #cache = new Map<
    string,
    { action: LoadedAction; probe: LoadedAction | undefined; set: boolean }
  >();

  constructor(options: ProberOptions) {
    this.#options = options;
  }

  /** Forgets cached action files (an `update` wrote one). */
  reload(): void {
    this.#cache.clear();
  }

  #probeOf(file: string): LoadedAction | undefined {
    return this.#load(file).probe;
  }

  #load(file: string): { action: LoadedAction; probe: LoadedAction | undefined; set: boolean } {
    const cached = this.#cache.get(file);
    if (cached !== undefined && !actionChanged(cached.action)) return cached;
    const action = loadAction(this.#options.actionsDir, file);
    const loaded = { action, probe: probeAction(action), set: setBackendOf(action) !== undefined };
    this.#cache.set(file, loaded);
    return loaded;
  }

  /**
   * Whether bans of `file` are elements of a set (`actionset_type`): probed with probeSets, and applied
   * again by an idempotent add (a set holds an address once, however often it is added). Loading
   * errors count as no.
   */
  isSetAction(file: string): boolean {
    try {
      return this.#load(file).set;
    } catch {
      return false;
    }
  }

  /**
   * Probes bans of set-backend actions: one listing per (action file, options, family) for all of them.
   * Without the engine (`sets`), one probe per ban.
   */
  async probeSets(requests: readonly ProbeRequest[]): Promise<ProbeOutcome[]> {
    const { sets } = this.#options;
    if (sets === undefined) {
      const outcomes: ProbeOutcome[] = [];
      for (const request of requests) outcomes.push(await this.probe(request));
      return outcomes;
    }
    const found = await sets.probeBatch(
      requests.map(({ file, params }) => ({ file, action: "actionban", params })),
    );
    return found.map(
      (outcome): ProbeOutcome =>
        outcome.state === "missing"
          ? { state: "missing", exitCode: null, stderr: "not in its set (actionset_list)" }
          : outcome,
    );
  }

  /**
   * Whether `file` skips restored tickets (`norestored`, as fail2ban's mail and reporting actions do): the
   * agent does not run such a ban again after a restart, as fail2ban does not. Loading errors count as no.
   */
  skipsRestored(file: string, params: Record<string, string>): boolean {
    try {
      this.#probeOf(file);
      const cached = this.#cache.get(file);
      return cached !== undefined && bindAction(cached.action, params).norestored;
    } catch {
      return false;
    }
  }

  /** Whether action file `file` has a probe (loading errors count as no). */
  hasProbe(file: string): boolean {
    try {
      return this.#probeOf(file) !== undefined;
    } catch {
      return false;
    }
  }

  async probe(request: ProbeRequest): Promise<ProbeOutcome> {
    let command: RenderedOperation;
    try {
      const probe = this.#probeOf(request.file);
      if (probe === undefined) return { state: "unchecked", reason: `${request.file} has no ${PROBE}` };
      // A probe runs with the ban's params: held to the same policy and positions as the ban itself.
      const hostname = localHostNames();
      (this.#options.paramPolicy ?? ParamPolicy.DEFAULT).assertAllowed(request.file, request.params);
      assertOptionsAsData(probe, request.params, hostname);
      command = renderOperation(probe, "actionban", request.params, { hostname });
    } catch (error) {
      return { state: "unchecked", reason: (error as Error).message };
    }
    if (command === null || (typeof command === "object" && !Array.isArray(command))) {
      return { state: "unchecked", reason: `${request.file}: ${PROBE} renders to nothing to run` };
    }
    const run = this.#options.run ?? runCommand;
    const result = await run(command as Exclude<RenderedCommand, null>, {
      timeoutMs: this.#options.timeoutSeconds * 1000,
    });
    if (result.timedOut || result.exitCode === null) {
      return {
        state: "unchecked",
        reason: result.timedOut ? "probe timed out" : `probe killed (${result.signal})`,
      };
    }
    return result.exitCode === 0
      ? { state: "present" }
      : { state: "missing", exitCode: result.exitCode, stderr: result.stderr.slice(-500) };
  }
}
