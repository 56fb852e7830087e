// The published packages outside the workspace: each tarball's contents and metadata, then all of them
// installed with plain npm in an empty directory, where the CLIs run and the protocol library is used
// from ESM, CommonJS and TypeScript. Needs `pnpm build` first and the npm registry for third-party deps.
import { readFileSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TempDir, tempDir } from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, runProcess } from "./process.js";
import { installTarballs, type PackedPackage, packPublished, REPO_ROOT } from "./workspace.js";

let work: TempDir;
let consumer: string;
let packed: PackedPackage[];

beforeAll(async () => {
  work = await tempDir("pack");
  await mkdir(join(work.path, "tarballs"));
  consumer = join(work.path, "consumer");
  await mkdir(consumer);
  packed = await packPublished(join(work.path, "tarballs"));
  await installTarballs(
    consumer,
    packed.map((p) => p.tarball),
  );
}, 600_000);

afterAll(async () => {
  await work?.remove();
});

/** Export targets of a manifest's `exports`, except the in-repo source condition. */
function exportTargets(exports: unknown, condition = ""): { condition: string; target: string }[] {
  if (typeof exports === "string") return [{ condition, target: exports }];
  if (exports === null || typeof exports !== "object") return [];
  return Object.entries(exports).flatMap(([key, value]) =>
    // @net2ban/source points at src/*.ts for the workspace's own type check and tests; no consumer
    // sets that condition, and src/ is deliberately not shipped.
    key === "@net2ban/source" ? [] : exportTargets(value, condition === "" ? key : `${condition} > ${key}`),
  );
}

const bin = (name: string) => join(consumer, "node_modules", ".bin", name);

/** Runs a command in the consumer directory with no net2ban config around (HOME and env scrubbed). */
function inConsumer(file: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { PATH: process.env["PATH"], HOME: consumer, LANG: "C" };
  return runProcess(file, args, { cwd: consumer, env, timeoutMs: 60_000 });
}

describe("tarballs", () => {
  it("packs every package that is not private (at least the eight of the first release), none of the private ones", () => {
    const names = packed.map((p) => p.name);
    for (const name of ["actions", "agent", "config", "ctl", "protocol", "runtime", "server", "transport"]) {
      expect(names).toContain(`@net2ban/${name}`);
    }
    for (const name of ["test-fixtures", "test-utils", "fleet", "pack-test"])
      expect(names).not.toContain(`@net2ban/${name}`);
  });

  it("each holds dist with types, the license and its bins, and no sources, tests or build info", () => {
    for (const pkg of packed) {
      const where = `${pkg.name} (${pkg.tarball})`;
      expect(pkg.entries, where).toContain("package.json");
      expect(pkg.entries, where).toContain("LICENSE");
      expect(pkg.entries, where).toContain("dist/index.js");
      expect(pkg.entries, where).toContain("dist/index.d.ts");
      expect(
        pkg.entries.filter((e) => e.startsWith("src/") || e.startsWith("test/")),
        where,
      ).toEqual([]);
      expect(
        pkg.entries.filter((e) => /\.test\.|\.tsbuildinfo$|\.int\./.test(e)),
        where,
      ).toEqual([]);
      for (const file of Object.values(pkg.packedManifest.bin ?? {})) {
        expect(pkg.entries, `${where} bin`).toContain(file.replace(/^\.\//, ""));
      }
      // Every file a consumer can reach through exports/main/types is in the tarball.
      const reachable = [
        ...exportTargets(pkg.packedManifest.exports).map((t) => t.target),
        pkg.packedManifest.main,
        pkg.packedManifest.types,
      ].filter((t): t is string => t !== undefined && t !== "./package.json");
      for (const target of reachable) expect(pkg.entries, where).toContain(target.replace(/^\.\//, ""));
    }
  });

  it("each declares the metadata npm shows and a release needs", () => {
    for (const pkg of packed) {
      const m = pkg.packedManifest;
      const where = pkg.name;
      expect(m.description, where).toMatch(/^.{20,}$/);
      expect(m.license, where).toBe("MIT");
      expect(m.repository, where).toEqual({
        type: "git",
        url: "git+https://github.com/net2ban/net2ban.git",
        directory: pkg.dir.slice(REPO_ROOT.length + 1),
      });
      expect(m.keywords, where).toContain("net2ban");
      expect(m.type, where).toBe("module");
      expect(m.engines, where).toEqual({ node: ">=20.19" });
      expect(m.publishConfig, where).toMatchObject({ access: "public", provenance: true });
      expect(
        exportTargets(m.exports).some((t) => t.condition === ". > types"),
        where,
      ).toBe(true);
      // pnpm rewrote workspace: ranges into real ones a registry install can resolve.
      const ranges = { ...m.dependencies, ...m.peerDependencies };
      for (const [dep, range] of Object.entries(ranges)) {
        expect(range, `${where} -> ${dep}`).not.toMatch(/^workspace:/);
        if (dep.startsWith("@net2ban/")) {
          const target = packed.find((p) => p.name === dep);
          expect(target, `${where} depends on unpublished ${dep}`).toBeDefined();
          expect(range, `${where} -> ${dep}`).toBe(`^${target?.version}`);
        }
      }
    }
  });

  it("npm installed every @net2ban package from the local tarballs, none from the registry", async () => {
    const lock = JSON.parse(await readFile(join(consumer, "package-lock.json"), "utf8")) as {
      packages: Record<string, { resolved?: string }>;
    };
    const ours = Object.entries(lock.packages).filter(([path]) => path.includes("node_modules/@net2ban/"));
    expect(ours.map(([path]) => path).sort()).toEqual(packed.map((p) => `node_modules/${p.name}`).sort());
    for (const [path, entry] of ours) expect(entry.resolved, path).toMatch(/^file:/);
  });
});

describe("installed with npm outside the workspace", () => {
  it("net2banctl --help lists its commands", { timeout: 120_000 }, async () => {
    const result = await inConsumer(bin("net2banctl"), ["--help"]);
    expect(result.code, describeRun("net2banctl --help", result)).toBe(0);
    // The original's underscore names are aliases of the hyphenated ones.
    for (const command of ["gen-random", "get-client", "exec", "ban", "update", "check-config", "render"]) {
      expect(result.stdout).toContain(`net2banctl ${command}`);
    }
    for (const alias of ["gen_random", "get_client", "list_clients"]) {
      expect(result.stdout).toContain(`aliases: ${alias}`);
    }
  });

  it("net2banctl gen_random prints a 40-character key", { timeout: 120_000 }, async () => {
    const result = await inConsumer(bin("net2banctl"), ["gen_random"]);
    expect(result.code, describeRun("net2banctl gen_random", result)).toBe(0);
    expect(result.stdout).toMatch(/^[0-9a-f]{40}\n$/);
    const again = await inConsumer(bin("net2banctl"), ["gen_random"]);
    expect(again.stdout).not.toBe(result.stdout);
  });

  it("net2banctl check-config accepts the sample server config and rejects a broken one with exit 2", {
    timeout: 120_000,
  }, async () => {
    const sample = join(consumer, "net2ban.cfg");
    await copyFile(join(REPO_ROOT, "configs", "net2ban.cfg"), sample);
    const ok = await inConsumer(bin("net2banctl"), ["check-config", "--config", sample]);
    expect(ok.code, describeRun("check-config (sample)", ok)).toBe(0);
    expect(ok.stdout).toContain(`${sample}: ok (mode server`);

    const broken = join(consumer, "broken.cfg");
    await writeFile(broken, readFileSync(sample, "utf8").replace(/^rounds\s*=.*$/m, "rounds = abc"));
    const bad = await inConsumer(bin("net2banctl"), ["check-config", "--config", broken]);
    expect(bad.code, describeRun("check-config (broken)", bad)).toBe(2);
    expect(bad.stderr).toMatch(/rounds: .*"abc"/);
  });

  it("net2ban-server --help and net2ban-agent --help print their usage", { timeout: 120_000 }, async () => {
    for (const [name, text] of [
      ["net2ban-server", "Forwards bans from the input queue"],
      ["net2ban-agent", "Runs the fail2ban actions"],
    ] as const) {
      const result = await inConsumer(bin(name), ["--help"]);
      expect(result.code, describeRun(`${name} --help`, result)).toBe(0);
      expect(result.stdout).toContain(text);
      expect(result.stdout).toContain("--config");
    }
  });

  // Both scripts seal a ban as a detection host would and open it as the server would.
  const script = (load: string, kind: string) => `
${load}
async function main() {
  const keys = { key: "k".repeat(40), secret: "s".repeat(40), rounds: 1000, authkey: "a".repeat(40) };
  const options = { protocol: 2, keyId: "server", direction: "to-server", keys };
  const sender = await protocol.createCodec(options);
  const receiver = await protocol.createCodec(options);
  const ban = protocol.createExecBanRequest({ ip: "203.0.113.9", name: "sshd", sender: "${kind}" });
  const wire = sender.seal(ban);
  const opened = receiver.open(wire).message;
  console.log(JSON.stringify({ kind: "${kind}", bytes: wire.length, opened }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

  for (const [kind, file, load] of [
    ["esm", "ban.mjs", 'import * as protocol from "@net2ban/protocol";'],
    ["cjs", "ban.cjs", 'const protocol = require("@net2ban/protocol");'],
  ] as const) {
    it(`${kind === "esm" ? "an ES module imports" : "a CommonJS script require()s"} @net2ban/protocol and seals a ban`, async () => {
      await writeFile(join(consumer, file), script(load, kind));
      const result = await inConsumer(process.execPath, [file]);
      expect(result.code, describeRun(`node ${file}`, result)).toBe(0);
      const out = JSON.parse(result.stdout) as {
        kind: string;
        bytes: number;
        opened: Record<string, unknown>;
      };
      expect(out.kind).toBe(kind);
      expect(out.bytes).toBeGreaterThan(100);
      expect(out.opened).toMatchObject({
        cmd: "exec",
        file: "iptables-multiport",
        action: "actionban",
        params: { ip: "203.0.113.9", name: "sshd" },
        sender: kind,
      });
    });
  }

  it("a strict TypeScript project type-checks against the published types, and they are not `any`", async () => {
    const project = join(consumer, "ts");
    await mkdir(project);
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
          // The workspace's @types/node: the consumer is checked offline, like the rest of this test.
          typeRoots: [join(REPO_ROOT, "node_modules", "@types")],
          types: ["node"],
        },
        include: ["*.ts"],
      }),
    );
    await writeFile(join(project, "package.json"), JSON.stringify({ type: "module", private: true }));
    await writeFile(
      join(project, "consumer.ts"),
      `import { type Codec, createExecBanRequest, createCodec, type ExecMessage } from "@net2ban/protocol";
import { type Net2banConfig, parseConfig } from "@net2ban/config";
import type { Broker } from "@net2ban/transport";
import { renderForCli } from "@net2ban/actions";

const codec: Codec = await createCodec({
  protocol: 2,
  keyId: "server",
  direction: "to-server",
  keys: { key: "k", secret: "s", rounds: 1000, authkey: "a" },
});
const ban: ExecMessage = createExecBanRequest({ ip: "203.0.113.9", name: "sshd" });
const wire: Buffer = codec.seal(ban);
export const sizes: number[] = [wire.length];
export type UsesConfig = (config: Net2banConfig) => Broker;
export const parse: typeof parseConfig = parseConfig;
export const render: typeof renderForCli = renderForCli;

// The published types must catch mistakes: each line below must fail to compile (tsc reports an
// expect-error directive that has nothing to suppress).
// @ts-expect-error ip is a string
createExecBanRequest({ ip: 203 });
// @ts-expect-error protocol is 1 or 2
await createCodec({ protocol: 3, keyId: "server", direction: "to-server", keys: { key: "k", secret: "s", rounds: 1, authkey: "a" } });
// @ts-expect-error seal returns a Buffer, not a string
export const wrong: string = codec.seal(ban);
`,
    );
    const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const result = await runProcess(process.execPath, [tsc, "-p", project], {
      cwd: project,
      timeoutMs: 240_000,
    });
    expect(result.code, describeRun("tsc -p consumer", result)).toBe(0);
    // skipLibCheck is off: every published .d.ts (and all it imports) is checked, which takes a while.
  }, 300_000);
});
