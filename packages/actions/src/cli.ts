// What `net2banctl render ... --json` prints: the command an agent would run for a request.

import { assertNonEmptyString, assertObject, assertOneOf, assertStringRecord } from "./assert.js";
import { localHostNames } from "./engine.js";
import { loadAction } from "./load.js";
import {
  OPERATIONS,
  type Operation,
  type RenderedOperation,
  type RenderOptions,
  renderOperation,
} from "./render.js";

/**
 * Loads `file` from `actionsDir` and renders `operation` with `params` (options default to this
 * host's names and the current time). Throws the same typed errors as the engine.
 */
export function renderForCli(
  actionsDir: string,
  file: string,
  operation: string,
  params: Record<string, string>,
  options: Partial<RenderOptions> = {},
): { command: RenderedOperation } {
  assertNonEmptyString(actionsDir, "actionsDir");
  assertOneOf(operation, OPERATIONS, "operation");
  assertStringRecord(params, "params");
  assertObject(options, "options");
  const action = loadAction(actionsDir, file);
  const command = renderOperation(action, operation as Operation, params, {
    ...options,
    hostname: options.hostname ?? localHostNames(),
  });
  return { command };
}
