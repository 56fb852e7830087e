// The workspace's publishable packages, packed as `pnpm publish` would and installed with plain npm,
// so the release checks see exactly what a user downloads.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describeRun, runProcess } from "./process.js";

/** The repository root (this file is packages/pack-test/src/workspace.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export interface WorkspacePackage {
  name: string;
  version: string;
  /** Absolute path of the package directory. */
  dir: string;
  manifest: PackageManifest;
}

/** The package.json fields the checks read. */
export interface PackageManifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  license?: string;
  keywords?: string[];
  repository?: { type?: string; url?: string; directory?: string };
  type?: string;
  bin?: Record<string, string>;
  main?: string;
  types?: string;
  exports?: unknown;
  files?: string[];
  engines?: Record<string, string>;
  publishConfig?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function readManifest(path: string): PackageManifest {
  return JSON.parse(readFileSync(path, "utf8")) as PackageManifest;
}

/** Every package under packages/ that is not private: what a release publishes. */
export function publishedPackages(): WorkspacePackage[] {
  const root = join(REPO_ROOT, "packages");
  return readdirSync(root)
    .filter((entry) => existsSync(join(root, entry, "package.json")))
    .map((entry) => {
      const manifest = readManifest(join(root, entry, "package.json"));
      return { name: manifest.name, version: manifest.version, dir: join(root, entry), manifest };
    })
    .filter((pkg) => pkg.manifest.private !== true)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface PackedPackage extends WorkspacePackage {
  tarball: string;
  /** Paths inside the tarball, without the leading `package/`. */
  entries: string[];
  /** package.json as packed (workspace: ranges rewritten). */
  packedManifest: PackageManifest;
}

/**
 * `pnpm pack` of every published package (or of `only` and what they depend on) into `dest`. Needs `pnpm build` first: the tarballs hold dist/,
 * and packing a stale or missing build would test the wrong thing, so a missing one fails here.
 */
export async function packPublished(dest: string, only?: readonly string[]): Promise<PackedPackage[]> {
  const packed: PackedPackage[] = [];
  const all = publishedPackages();
  const wanted = only === undefined ? all : withDependencies(all, only);
  for (const pkg of wanted) {
    if (!existsSync(join(pkg.dir, "dist", "index.js"))) {
      throw new Error(`${pkg.name}: ${join(pkg.dir, "dist/index.js")} is missing: run \`pnpm build\` first`);
    }
    const result = await runProcess("pnpm", ["pack", "--json", "--pack-destination", dest], {
      cwd: pkg.dir,
      timeoutMs: 120_000,
    });
    if (result.code !== 0) throw new Error(describeRun(`pnpm pack (${pkg.name})`, result));
    const tarball = (JSON.parse(result.stdout) as { filename: string }).filename;
    const list = await runProcess("tar", ["-tzf", tarball]);
    if (list.code !== 0) throw new Error(describeRun(`tar -tzf ${tarball}`, list));
    const entries = list.stdout
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => line.replace(/^package\//, ""));
    const manifestText = await runProcess("tar", ["-xzOf", tarball, "package/package.json"]);
    packed.push({
      ...pkg,
      tarball,
      entries,
      packedManifest: JSON.parse(manifestText.stdout) as PackageManifest,
    });
  }
  return packed;
}

/** `names` and the workspace packages they depend on, transitively. */
function withDependencies(all: readonly WorkspacePackage[], names: readonly string[]): WorkspacePackage[] {
  const byName = new Map(all.map((pkg) => [pkg.name, pkg]));
  const found = new Set<string>();
  const visit = (name: string) => {
    const pkg = byName.get(name);
    if (pkg === undefined) throw new Error(`${name} is not a published workspace package`);
    if (found.has(name)) return;
    found.add(name);
    for (const dep of Object.keys(pkg.manifest.dependencies ?? {})) if (byName.has(dep)) visit(dep);
  };
  for (const name of names) visit(name);
  return all.filter((pkg) => found.has(pkg.name));
}

/**
 * A fresh npm project in `dir` with every tarball installed in one `npm install`, so @net2ban/*
 * dependencies resolve to the local tarballs and nothing else comes from the registry under that scope.
 */
export async function installTarballs(dir: string, tarballs: readonly string[]): Promise<void> {
  await writeFile(
    join(dir, "package.json"),
    `${JSON.stringify({ name: "net2ban-consumer", version: "0.0.0", private: true }, null, 2)}\n`,
  );
  const result = await runProcess("npm", ["install", "--no-audit", "--no-fund", ...tarballs], {
    cwd: dir,
    timeoutMs: 300_000,
  });
  if (result.code !== 0) throw new Error(describeRun("npm install <tarballs>", result));
}
