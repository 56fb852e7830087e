// What `net2banctl render ... --json` prints: the command an agent would run for a request.

import { assertNonEmptyString, assertObject, assertOneOf, assertStringRecord } from "./assert.js";
import { localHostNames } from "./engine.js";
import { ParamRefusedError } from "./errors.js";
import { loadAction } from "./load.js";
import { ParamPolicy } from "./param-policy.js";
import { assertOptionsAsData } from "./positions.js";
import {
  OPERATIONS,
  type Operation,
  type RenderedOperation,
  type RenderOptions,
  renderOperation,
} from "./render.js";

/**
 * Loads `file` from `actionsDir` and renders `operation` with `params` (options default to this
 * host's names and the current time) as fail2ban would, whatever the policy: a dry run of the operator's
 * own input. `refused` says why an agent would refuse the same params in a message (`policy`, default
 * ParamPolicy.DEFAULT, then the positions check). Throws the same typed errors as the engine.
 */
export function renderForCli(
  actionsDir: string,
  file: string,
  operation: string,
  params: Record<string, string>,
  options: Partial<RenderOptions> & { policy?: ParamPolicy } = {},
): { command: RenderedOperation; refused?: string } {
  assertNonEmptyString(actionsDir, "actionsDir");
  assertOneOf(operation, OPERATIONS, "operation");
  assertStringRecord(params, "params");
  assertObject(options, "options");
  const { policy = ParamPolicy.DEFAULT, ...render } = options;
  const action = loadAction(actionsDir, file);
  const hostname = render.hostname ?? localHostNames();
  const command = renderOperation(action, operation as Operation, params, { ...render, hostname });
  let refused = policy.refusal(file, params)?.message;
  if (refused === undefined) {
    try {
      assertOptionsAsData(action, params, hostname);
    } catch (error) {
      if (!(error instanceof ParamRefusedError)) throw error;
      refused = error.message;
    }
  }
  return refused === undefined ? { command } : { command, refused };
}
