// The parent side of agent-host.ts: forks the hosts, spreads agents over them, and turns their events
// into per-ban completions (every agent done) with the time of each step.
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { HostEvent, HostShells, HostStart } from "./agent-host.js";
import { monotonicMs } from "./context.js";

export interface BanTimes {
  /** Per agent: when the command reached its handler, and when its action was done (monotonic ms). */
  delivered: Map<string, number>;
  done: Map<string, number>;
  /** Per agent: how long the action's own command ran (ms, as the engine measured it). */
  actionMs: Map<string, number>;
}

interface Pending {
  times: BanTimes;
  resolve: (times: BanTimes) => void;
}

export class AgentHosts {
  readonly #children: ChildProcess[];
  readonly #agentCount: number;
  readonly #pending = new Map<string, Pending>();
  /** Completed bans by id, for bursts that wait on counts rather than on one ban. */
  readonly doneCount = new Map<string, number>();
  #onAnyDone: (() => void) | undefined;
  #failure: Error | undefined;

  private constructor(children: ChildProcess[], agentCount: number) {
    this.#children = children;
    this.#agentCount = agentCount;
    for (const child of children) {
      child.on("message", (event: HostEvent) => this.#onEvent(event));
      child.on("exit", (code, signal) => {
        if (code !== 0 && code !== null) this.#fail(new Error(`agent host exited with ${code ?? signal}`));
      });
    }
  }

  /** Forks `hosts` processes and starts `names` spread round-robin over them; resolves when all consume. */
  static async start(
    hosts: number,
    spec: Omit<HostStart, "type" | "names"> & { names: string[] },
  ): Promise<AgentHosts> {
    const entry = fileURLToPath(new URL("./agent-host.js", import.meta.url));
    const children = Array.from({ length: hosts }, () =>
      fork(entry, [], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        serialization: "advanced",
        // NET2BAN_BENCH_HOST_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the agent hosts.
        execArgv: [
          ...process.execArgv,
          ...(process.env["NET2BAN_BENCH_HOST_NODE_ARGS"]?.split(" ").filter(Boolean) ?? []),
        ],
      }),
    );
    const group = new AgentHosts(children, spec.names.length);
    await Promise.all(
      children.map(
        (child, i) =>
          new Promise<void>((resolve, reject) => {
            const names = spec.names.filter((_, k) => k % hosts === i);
            const onMessage = (event: HostEvent) => {
              if (event.type === "ready") {
                child.off("message", onMessage);
                resolve();
              } else if (event.type === "error") reject(new Error(`agent host: ${event.message}`));
            };
            child.on("message", onMessage);
            child.send({ ...spec, type: "start", names } satisfies HostStart);
          }),
      ),
    );
    return group;
  }

  /**
   * The action floor: `total` shells spread over the hosts as the agents are, started at once; resolves
   * with each shell's time from the start until it was done (ms).
   */
  async shells(total: number, root: string): Promise<number[]> {
    const id = ++this.#shellRuns;
    const started = monotonicMs();
    const runs = this.#children.map(
      (child, i) =>
        new Promise<number[]>((resolve, reject) => {
          const onMessage = (event: HostEvent) => {
            if (event.type === "shells-done" && event.id === id) {
              child.off("message", onMessage);
              resolve(event.at);
            } else if (event.type === "error") reject(new Error(`agent host: ${event.message}`));
          };
          child.on("message", onMessage);
          const count =
            Math.floor(total / this.#children.length) + (i < total % this.#children.length ? 1 : 0);
          child.send({ type: "shells", id, count, root } satisfies HostShells);
        }),
    );
    return (await Promise.all(runs)).flat().map((at) => at - started);
  }

  #shellRuns = 0;

  get pids(): number[] {
    return this.#children.map((c) => c.pid ?? 0).filter((p) => p > 0);
  }

  /** Resolves when every agent has done ban `id` (call before publishing it). */
  expect(id: string, timeoutMs: number): Promise<BanTimes> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== undefined) {
        reject(this.#failure);
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        const got = pending.times.done.size;
        reject(new Error(`ban ${id}: ${got} of ${this.#agentCount} agents done after ${timeoutMs} ms`));
      }, timeoutMs);
      const pending: Pending = {
        times: { delivered: new Map(), done: new Map(), actionMs: new Map() },
        resolve: (times) => {
          clearTimeout(timer);
          resolve(times);
        },
      };
      this.#pending.set(id, pending);
    });
  }

  /** Resolves once `total` actions are done (any bans), checking after every completion. */
  waitForDone(total: number, timeoutMs: number, onProgress?: (done: number) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      let lastReport = 0;
      const timer = setTimeout(() => {
        this.#onAnyDone = undefined;
        reject(new Error(`${this.#totalDone()} of ${total} actions done after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#onAnyDone = () => {
        const done = this.#totalDone();
        if (onProgress !== undefined && performance.now() - lastReport > 2000) {
          lastReport = performance.now();
          onProgress(done);
        }
        if (done >= total) {
          clearTimeout(timer);
          this.#onAnyDone = undefined;
          resolve();
        }
      };
      this.#onAnyDone();
    });
  }

  #totalDone(): number {
    let total = 0;
    for (const count of this.doneCount.values()) total += count;
    return total;
  }

  #onEvent(event: HostEvent): void {
    if (event.type === "error") {
      this.#fail(new Error(`agent host: ${event.message}`));
      return;
    }
    if (event.type === "delivered") {
      this.#pending.get(event.id)?.times.delivered.set(event.agent, event.at);
      return;
    }
    if (event.type !== "done") return;
    this.doneCount.set(event.id, (this.doneCount.get(event.id) ?? 0) + 1);
    const pending = this.#pending.get(event.id);
    if (pending !== undefined) {
      pending.times.done.set(event.agent, event.at);
      pending.times.actionMs.set(event.agent, event.actionMs);
      if (pending.times.done.size === this.#agentCount) {
        this.#pending.delete(event.id);
        pending.resolve(pending.times);
      }
    }
    this.#onAnyDone?.();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
  }

  /** Stops every agent (actionstop, consumers cancelled, connections closed) and waits for the hosts. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || !child.connected) {
              resolve();
              return;
            }
            const timer = setTimeout(() => {
              child.kill("SIGKILL");
              resolve();
            }, 15_000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.send({ type: "stop" });
          }),
      ),
    );
  }
}
