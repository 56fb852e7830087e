// Runs a CLI's in-process entry (`run(argv, io)`, as net2banctl exports it) and keeps what it printed.

/** What a CLI entry is given to print with: one call per line. */
export interface CliLines {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The exit code and the lines printed on each stream. */
export interface CliOutcome {
  code: number;
  out: string[];
  err: string[];
}

/** Calls `run(argv, io)` with an io that records every line; resolves with the code and both streams. */
export async function captureCli(
  run: (argv: string[], io: CliLines) => Promise<number>,
  argv: readonly string[],
): Promise<CliOutcome> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run([...argv], { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}
