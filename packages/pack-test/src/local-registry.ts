// An npm registry on 127.0.0.1 for tests that run `npm install @net2ban/...` as a user would: the
// @net2ban packages come from local tarballs (as if just published), everything else is fetched from
// the real registry and passed through, with its tarball addresses pointed back here so that hosts
// without a route to the internet (network namespaces) can install through this one port.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import type { PackedPackage } from "./workspace.js";

export interface LocalRegistry {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly port: number;
  /** Requests answered, as `<status> <path>`: what a failed install asked for. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

export interface LocalRegistryOptions {
  packages: readonly PackedPackage[];
  /** Where other packages come from (default https://registry.npmjs.org/). */
  upstream?: string;
}

interface LocalTarball {
  file: string;
  bytes: Buffer;
}

/** Starts the registry; close() it when done. */
export async function startLocalRegistry(options: LocalRegistryOptions): Promise<LocalRegistry> {
  const upstream = (options.upstream ?? "https://registry.npmjs.org/").replace(/\/?$/, "/");
  const tarballs = new Map<string, LocalTarball>();
  const packuments = new Map<string, (base: string) => object>();
  for (const pkg of options.packages) {
    const bytes = await readFile(pkg.tarball);
    const file = basename(pkg.tarball);
    tarballs.set(file, { file, bytes });
    const integrity = `sha512-${createHash("sha512").update(bytes).digest("base64")}`;
    const shasum = createHash("sha1").update(bytes).digest("hex");
    packuments.set(pkg.name, (base) => ({
      _id: pkg.name,
      name: pkg.name,
      "dist-tags": { latest: pkg.version },
      versions: {
        [pkg.version]: {
          ...pkg.packedManifest,
          _id: `${pkg.name}@${pkg.version}`,
          dist: { tarball: `${base}-/local/${file}`, integrity, shasum },
        },
      },
    }));
  }

  const requests: string[] = [];
  let base = "";

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? "/";
    const done = (status: number, type: string, body: Buffer | string) => {
      requests.push(`${status} ${path}`);
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return done(405, "text/plain", "read-only registry\n");
    const local = /^\/-\/local\/([^/]+\.tgz)$/.exec(path);
    if (local) {
      const tarball = tarballs.get(local[1] ?? "");
      return tarball
        ? done(200, "application/octet-stream", tarball.bytes)
        : done(404, "text/plain", "no such tarball\n");
    }
    const name = decodeURIComponent(path.slice(1).split("?")[0] ?? "");
    const packument = packuments.get(name);
    if (packument) return done(200, "application/json", JSON.stringify(packument(base)));
    // Never ask the real registry for our scope: a package of that name there is not ours.
    if (name.startsWith("@net2ban/")) return done(404, "application/json", '{"error":"not found"}');
    const response = await fetch(`${upstream}${path.slice(1)}`, {
      headers: { accept: req.headers.accept ?? "application/json" },
    });
    const type = response.headers.get("content-type") ?? "application/octet-stream";
    const body = Buffer.from(await response.arrayBuffer());
    if (!type.includes("json")) return done(response.status, type, body);
    return done(response.status, type, body.toString("utf8").replaceAll(upstream, base));
  }

  const server: Server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => {
      requests.push(`502 ${req.url} (${String(error)})`);
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`upstream failed: ${String(error)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}/`;
  return {
    url: base,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
