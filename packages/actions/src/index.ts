// fail2ban-compatible action files for net2ban: read, render and run safely

export { type BatchOutcome, notRunOutcome } from "./batch.js";
export { renderForCli } from "./cli.js";
export {
  ActionEngine,
  type ActionEngineOptions,
  type ActionLogger,
  type ActionOutcome,
  type ActionRequest,
  type ActionStep,
  localHostNames,
  type SetProbeOutcome,
} from "./engine.js";
export { ActionConfigError, ActionError, ActionNotFoundError, ParamRefusedError } from "./errors.js";
export { type ActionInstance, bindAction } from "./instance.js";
export { type Family, parseTicketAddress, type TicketAddress } from "./ipaddr.js";
export { actionChanged, type LoadedAction, loadAction } from "./load.js";
export { type AllowedParam, DEFAULT_MESSAGE_OPTIONS, ParamPolicy } from "./param-policy.js";
export {
  type CheckedParams,
  classifyParams,
  DEFINITION_OPTIONS,
  TICKET_KEYS,
  validateParams,
} from "./params.js";
export { assertOptionsAsData } from "./positions.js";
export {
  OPERATIONS,
  type Operation,
  type RenderedCommand,
  type RenderedOperation,
  type RenderOptions,
  renderOperation,
} from "./render.js";
export {
  DEFAULT_TIMEOUT_SECONDS,
  OUTPUT_LIMIT_BYTES,
  type RunOptions,
  type RunResult,
  runCommand,
} from "./run.js";
export { SET_BACKENDS, setBackendOf } from "./set-action.js";
export { remainingTimeout, type SetBackend, type SetElement } from "./set-backend.js";
export { SHELL_BATCH_DRIVER } from "./shell-batch.js";
export type { HostNames } from "./tags.js";
