// Reads a runnable guide: every ```sh block of docs/getting-started.md carries an HTML comment (invisible
// on GitHub) that says where it runs, so the guide and its test cannot drift apart.
//
//   <!-- run: web1 web2 -->                      run in each host's shell, in order
//   <!-- run: web1 web2; until: TEXT -->         ... again until the output contains TEXT
//   <!-- run: web1 web2; until-not: TEXT -->     ... again until it no longer does
//   <!-- env: MQ MQ_PORT -->                     assigns these variables; the test sets its own values
//   <!-- skip: why -->                           not run by the test (the reason is shown)

export type DocStep =
  | { kind: "run"; line: number; hosts: string[]; code: string; until?: string; untilNot?: string }
  | { kind: "env"; line: number; names: string[]; code: string }
  | { kind: "skip"; line: number; reason: string; code: string };

export class DocStepError extends Error {
  override name = "DocStepError";
}

const MARKER = /^<!--\s*(run|env|skip):\s*(.*?)\s*-->$/;
const HOST = /^[a-z][a-z0-9-]*$/;

/** Parses the marked blocks of `markdown`; a shell block without a marker is an error. */
export function parseDocSteps(markdown: string): DocStep[] {
  const lines = markdown.split("\n");
  const steps: DocStep[] = [];
  let pending: { kind: string; args: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    const marker = MARKER.exec(line);
    if (marker) {
      if (pending) throw new DocStepError(`line ${pending.line}: marker not followed by a sh block`);
      pending = { kind: marker[1] ?? "", args: marker[2] ?? "", line: i + 1 };
      continue;
    }
    const fence = /^```(\S*)/.exec(line);
    if (!fence) {
      if (pending && line !== "")
        throw new DocStepError(`line ${pending.line}: marker not followed by a sh block`);
      continue;
    }
    const end = lines.findIndex((l, j) => j > i && l.trim() === "```");
    if (end < 0) throw new DocStepError(`line ${i + 1}: code block never closed`);
    const code = lines.slice(i + 1, end).join("\n");
    const language = fence[1] ?? "";
    if (language === "sh" || language === "bash") {
      if (!pending) throw new DocStepError(`line ${i + 1}: sh block without a run/env/skip marker`);
      steps.push(toStep(pending, code, i + 1));
    } else if (pending) {
      throw new DocStepError(
        `line ${pending.line}: marker followed by a ${language || "plain"} block, not sh`,
      );
    }
    pending = undefined;
    i = end;
  }
  if (pending) throw new DocStepError(`line ${pending.line}: marker at the end of the file`);
  return steps;
}

function toStep(marker: { kind: string; args: string; line: number }, code: string, line: number): DocStep {
  if (marker.kind === "skip") {
    if (marker.args === "") throw new DocStepError(`line ${marker.line}: skip needs a reason`);
    return { kind: "skip", line, reason: marker.args, code };
  }
  if (marker.kind === "env") {
    const names = marker.args.split(/\s+/).filter((n) => n !== "");
    for (const name of names) {
      if (!new RegExp(`^${name}=`, "m").test(code)) {
        throw new DocStepError(`line ${line}: env block does not assign ${name}`);
      }
    }
    const assigned = code
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.trim().startsWith("#"))
      .map((l) => /^([A-Z_][A-Z0-9_]*)=/.exec(l.trim())?.[1]);
    if (assigned.some((name) => name === undefined || !names.includes(name))) {
      throw new DocStepError(`line ${line}: env block may only assign ${names.join(", ")}`);
    }
    return { kind: "env", line, names, code };
  }
  const [hostPart = "", ...options] = marker.args.split(";").map((s) => s.trim());
  const hosts = hostPart.split(/\s+/).filter((h) => h !== "");
  if (hosts.length === 0 || !hosts.every((h) => HOST.test(h))) {
    throw new DocStepError(`line ${marker.line}: run needs host names, got ${JSON.stringify(hostPart)}`);
  }
  const step: DocStep = { kind: "run", line, hosts, code };
  for (const option of options) {
    const match = /^(until|until-not):\s*(.+)$/.exec(option);
    if (!match) throw new DocStepError(`line ${marker.line}: unknown option ${JSON.stringify(option)}`);
    if (match[1] === "until") step.until = match[2] ?? "";
    else step.untilNot = match[2] ?? "";
  }
  return step;
}
