// Settings for a process that sends one message and exits (the net2banctl bin), imported before anything
// that builds a schema. Not imported by the library entry: a long-running process keeps zod's defaults.
import { config } from "zod";

// zod compiles a validator with new Function() for each object schema on its first parse, which pays off
// only after many parses; a one-shot process parses a handful of objects, so the interpreter is faster
// (measured: ~4 ms of a ~40 ms start-up). Validation itself is the same.
config({ jitless: true });
