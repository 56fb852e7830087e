// A real pino logger (the apps' logger, redaction and all) whose lines go nowhere, with a hook that sees
// each call as it happens: in-process agents report "IP x banned" through it, time-stamped on the spot.
import { Writable } from "node:stream";
import type { Logger } from "@net2ban/runtime";
import pino from "pino";

export type LogHook = (message: string, fields: Record<string, unknown>) => void;

/** pino at `level`, writing to a sink; `hook` runs synchronously inside every log call at that level. */
export function sinkLogger(options: { level?: string; hook?: LogHook } = {}): Logger {
  const sink = new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
  const hook = options.hook;
  return pino(
    {
      level: options.level ?? "info",
      ...(hook === undefined
        ? {}
        : {
            hooks: {
              logMethod(args, method) {
                const [first, second] = args as unknown[];
                if (typeof first === "string") hook(first, {});
                else if (typeof second === "string") hook(second, (first ?? {}) as Record<string, unknown>);
                method.apply(this, args as Parameters<typeof method>);
              },
            },
          }),
    },
    sink,
  );
}
