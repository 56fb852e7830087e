// The one error a bad net2ban.cfg produces: every problem at once, one line each.

/**
 * net2ban.cfg cannot be used. `errors` holds one line per problem
 * (`net2ban.cfg: [client2] rounds: expected a positive integer, got "abc"`); `message` is those
 * lines joined by `\n`; `warnings` are the non-fatal findings made on the way.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly errors: string[];
  readonly warnings: string[];

  constructor(errors: readonly string[], warnings: readonly string[] = [], options?: { cause?: unknown }) {
    super(errors.join("\n"), options);
    this.errors = [...errors];
    this.warnings = [...warnings];
  }
}
