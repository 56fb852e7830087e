// runDaemon's lifecycle without real signals: a stand-in process receives SIGTERM / SIGINT / SIGHUP and
// records exits, so the test runner itself is never signalled. The real processes are covered by the
// agent's and server's cli-stop.int.test.ts.
import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { type DaemonLifecycle, runDaemon, type SignalProcess } from "./daemon.js";
import { createLogger } from "./logger.js";

class StandInProcess extends EventEmitter implements SignalProcess {
  readonly exits: number[] = [];
  exitCode: number | string | undefined;
  readonly #exited: Promise<number>;
  #resolveExit: (code: number) => void = () => undefined;

  constructor() {
    super();
    this.#exited = new Promise((resolve) => {
      this.#resolveExit = resolve;
    });
  }

  exit(code: number): void {
    this.exits.push(code);
    this.#resolveExit(code);
  }

  /** The first exit code asked for. */
  exited(): Promise<number> {
    return this.#exited;
  }
}

function recordingLogger() {
  const messages: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line !== "") messages.push((JSON.parse(line) as { msg: string }).msg);
      }
      done();
    },
  });
  return {
    messages,
    logger: createLogger({ target: "stdout", level: "debug", component: "test", destination }),
  };
}

/** A start-up that waits (as for RabbitMQ) until `started()` or until its abort signal fires. */
function waitingLifecycle(overrides: Partial<DaemonLifecycle> = {}) {
  const calls: string[] = [];
  let started: () => void = () => undefined;
  const lifecycle: DaemonLifecycle = {
    name: "agent",
    startUp: (signal) =>
      new Promise<void>((resolve, reject) => {
        calls.push("startUp");
        started = resolve;
        signal.addEventListener("abort", () => reject(new Error("start-up aborted")));
      }),
    abortStartUp: async () => {
      calls.push("abortStartUp");
    },
    shutdown: async () => {
      calls.push("shutdown");
    },
    reload: async () => {
      calls.push("reload");
    },
    ...overrides,
  };
  return { lifecycle, calls, started: () => started() };
}

/** runDaemon on a stand-in process, with a start-up that waits until `start()`. */
function launch(overrides: Partial<DaemonLifecycle> = {}) {
  const proc = new StandInProcess();
  const { logger, messages } = recordingLogger();
  const { lifecycle, calls, started } = waitingLifecycle(overrides);
  const running = runDaemon(logger, lifecycle, proc);
  const start = async () => {
    started();
    await settle();
  };
  return { proc, messages, calls, running, start };
}

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Whether `promise` has settled by now. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await settle();
  return settled;
}

describe("runDaemon", () => {
  it("listens for SIGTERM, SIGINT and SIGHUP from the first moment, before start-up has done anything", () => {
    const { proc } = launch();
    // Synchronously after the call: no await has run yet.
    expect(proc.listenerCount("SIGTERM")).toBe(1);
    expect(proc.listenerCount("SIGINT")).toBe(1);
    expect(proc.listenerCount("SIGHUP")).toBe(1);
  });

  it("SIGTERM during start-up cuts it short, shuts down what it opened and exits 0", async () => {
    const { proc, messages, calls, running } = launch();
    await settle();

    proc.emit("SIGTERM");
    expect(await proc.exited()).toBe(0);
    expect(proc.exitCode).toBe(0);
    expect(calls).toEqual(["startUp", "abortStartUp", "shutdown"]);
    expect(messages).toEqual(["stopping", "stopped"]);
    // The aborted start-up is not reported as a failure: runDaemon neither resolves nor throws.
    expect(await hasSettled(running)).toBe(false);
  });

  it("SIGINT once started shuts down without aborting anything and exits 0", async () => {
    const { proc, messages, calls, running, start } = launch();
    await start();

    proc.emit("SIGINT");
    expect(await proc.exited()).toBe(0);
    expect(calls).toEqual(["startUp", "shutdown"]);
    expect(messages).toEqual(["stopping", "stopped"]);
    expect(await hasSettled(running)).toBe(false);
  });

  it("a failed start-up closes what it had opened, then throws its error (no exit of its own)", async () => {
    const proc = new StandInProcess();
    const { logger } = recordingLogger();
    const calls: string[] = [];
    const running = runDaemon(
      logger,
      {
        name: "server",
        startUp: async () => {
          calls.push("startUp");
          throw new Error("ACCESS_REFUSED");
        },
        shutdown: async () => {
          calls.push("shutdown");
        },
      },
      proc,
    );
    await expect(running).rejects.toThrow("ACCESS_REFUSED");
    expect(calls).toEqual(["startUp", "shutdown"]);
    expect(proc.exits).toEqual([]);
  });

  it("a failed start-up still throws its own error when the shutdown after it fails too", async () => {
    const proc = new StandInProcess();
    const { logger } = recordingLogger();
    const running = runDaemon(
      logger,
      {
        name: "server",
        startUp: async () => {
          throw new Error("ACCESS_REFUSED");
        },
        shutdown: async () => {
          throw new Error("close failed");
        },
      },
      proc,
    );
    await expect(running).rejects.toThrow("ACCESS_REFUSED");
  });

  it("ignores SIGHUP during start-up (and says so), and reloads on SIGHUP once started", async () => {
    const { proc, messages, calls, start } = launch();
    await settle();

    proc.emit("SIGHUP");
    await settle();
    expect(calls).toEqual(["startUp"]);
    expect(messages).toEqual([
      "SIGHUP: reloading configuration",
      "SIGHUP during start-up ignored: send it again once the agent has started",
    ]);

    await start();
    proc.emit("SIGHUP");
    await settle();
    expect(calls).toEqual(["startUp", "reload"]);
  });

  it("a failed reload is logged and the daemon keeps running", async () => {
    const { proc, messages, start } = launch({
      reload: async () => {
        throw new Error("net2ban.cfg: [global] url: expected a URL");
      },
    });
    await start();
    proc.emit("SIGHUP");
    await settle();
    expect(messages).toContain("reload failed, keeping the previous configuration");
    expect(proc.exits).toEqual([]);
  });

  it("a second stop signal while stopping exits 1 at once", async () => {
    const { proc, messages, start } = launch({ shutdown: () => new Promise<void>(() => undefined) });
    await start();
    proc.emit("SIGTERM");
    await settle();
    expect(proc.exits).toEqual([]);
    proc.emit("SIGTERM");
    expect(proc.exits).toEqual([1]);
    expect(messages).toEqual(["stopping", "second stop signal, exiting now"]);
  });

  it("a shutdown that fails exits 1", async () => {
    const { proc, messages, start } = launch({
      shutdown: async () => {
        throw new Error("channel closed");
      },
    });
    await start();
    proc.emit("SIGTERM");
    expect(await proc.exited()).toBe(1);
    expect(messages).toEqual(["stopping", "stop failed"]);
  });
});
