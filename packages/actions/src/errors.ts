// The typed failures of running fail2ban action files: callers tell them apart with instanceof.

/** Base class of every failure this package throws on purpose, for callers that catch them all. */
export class ActionError extends Error {
  override readonly name: string = "ActionError";
}

/** No NAME.conf, NAME.local nor NAME.d/*.conf|*.local in the actions directory. */
export class ActionNotFoundError extends ActionError {
  override readonly name = "ActionNotFoundError";
  readonly actionsDir: string;
  readonly action: string;

  constructor(actionsDir: string, action: string, options?: ErrorOptions) {
    super(
      `action "${action}" not found in ${actionsDir} (no ${action}.conf, ${action}.local nor ${action}.d/)`,
      options,
    );
    this.actionsDir = actionsDir;
    this.action = action;
  }
}

/** An action file fail2ban itself would reject (syntax, interpolation, self-referencing tags, ...). */
export class ActionConfigError extends ActionError {
  override readonly name = "ActionConfigError";
  /** The file the broken option came from (or the action's main file when no single file is to blame). */
  readonly file: string;
  /** The option (or section) at fault, when known. */
  readonly option: string | undefined;

  constructor(file: string, option: string | undefined, what: string, options?: ErrorOptions) {
    super(`${file}${option === undefined ? "" : `: ${option}`}: ${what}`, options);
    this.file = file;
    this.option = option;
  }
}

/** A message param that may not be used: nothing is rendered nor run. */
export class ParamRefusedError extends ActionError {
  override readonly name = "ParamRefusedError";
  readonly param: string;
  readonly reason: string;

  constructor(param: string, reason: string, options?: ErrorOptions) {
    super(`param "${param}" refused: ${reason}`, options);
    this.param = param;
    this.reason = reason;
  }
}
