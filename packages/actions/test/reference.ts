// Test helper: asks real fail2ban 1.0.2 (through f2b_render.py under /usr/bin/python3) what it would
// execute, many requests per Python process. Fails loudly when fail2ban is not installed.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const PYTHON = "/usr/bin/python3";
export const STOCK_ACTIONS_DIR = "/etc/fail2ban/action.d";
const DRIVER = fileURLToPath(new URL("./f2b_render.py", import.meta.url));

export interface ReferenceRequest {
  dir: string;
  action: string;
  operation: string;
  params: Record<string, string>;
  hostname?: { fq: string; short: string };
  /** Unix seconds; sent as a float so `<time>` of empty tickets renders like time.time(). */
  now?: number;
  ipv6?: boolean;
}

/** A jail's life on one fail2ban CommandAction: the driver returns every command executed, in order. */
export interface ReferenceSequence {
  dir: string;
  action: string;
  steps: Array<{ operation: string; params: Record<string, string> }>;
  /** Executions that fail: the `times`-th (1-based) run of a script containing `contains`. */
  fail?: Array<{ contains: string; times: number[] }>;
  hostname?: { fq: string; short: string };
  now?: number;
  ipv6?: boolean;
}

export type ReferenceAnswer = { expect: unknown } | { error: string };

/** Throws a clear message unless /usr/bin/python3 can import fail2ban and the stock files exist. */
export function assertFail2banInstalled(): void {
  const probe = spawnSync(PYTHON, ["-c", "import fail2ban.server.action, fail2ban.client.actionreader"], {
    encoding: "utf8",
  });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `fail2ban 1.0.2 is the reference of these tests but ${PYTHON} cannot import it ` +
        `(${probe.error?.message ?? probe.stderr.trim()}); run scripts/setup-host.sh (apt-get install fail2ban)`,
    );
  }
  if (!existsSync(STOCK_ACTIONS_DIR)) {
    throw new Error(`${STOCK_ACTIONS_DIR} is missing; run scripts/setup-host.sh (apt-get install fail2ban)`);
  }
}

/** What fail2ban renders for each request, in order (one Python process for the whole batch). */
export function referenceRender(
  requests: ReadonlyArray<ReferenceRequest | ReferenceSequence>,
): ReferenceAnswer[] {
  if (requests.length === 0) return [];
  const input = requests
    .map((r) => {
      const { now, ...rest } = r;
      // JSON has one number type; the driver must see a float for now (time.time() is one)
      const line = JSON.stringify(rest);
      return now === undefined
        ? line
        : `${line.slice(0, -1)},"now":${Number.isInteger(now) ? `${now}.0` : now}}`;
    })
    .join("\n");
  const out = execFileSync(PYTHON, [DRIVER], { input, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  const lines = out.trim().split("\n");
  if (lines.length !== requests.length) {
    throw new Error(`reference driver answered ${lines.length} of ${requests.length} requests`);
  }
  return lines.map((line) => JSON.parse(line) as ReferenceAnswer);
}
