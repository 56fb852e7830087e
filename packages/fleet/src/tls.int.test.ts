// Transport security end to end: a private RabbitMQ node with the shipped configs/rabbitmq/rabbitmq.conf
// (amqps, verify_peer, fail_if_no_peer_cert), a throwaway CA made with openssl for this test, and a
// fleet configured with tls_ca / tls_cert / tls_key: a ban reaches the agents over TLS, and net2banctl
// without a client certificate is refused with one clear line.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  freePort,
  type PrivateNode,
  startPrivateNode,
  stopPrivateNode,
  type TempDir,
  tempDir,
} from "@net2ban/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "./fleet.js";

let certs: TempDir | undefined;
let node: PrivateNode | undefined;
let fleet: Fleet | undefined;
let tlsPort = 0;

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: certs!.path, stdio: "pipe", timeout: 30_000 });
}

/** A CA, a server certificate for "localhost" and a client certificate, valid for two days. */
function makeCertificates(): void {
  const days = ["-days", "2"];
  openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"].concat([
      "-subj",
      "/CN=net2ban fleet test CA",
      ...days,
    ]),
  );
  for (const [name, subject, ext] of [
    ["server", "/CN=localhost", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n"],
    ["client", "/CN=net2ban-fleet", "extendedKeyUsage=clientAuth\n"],
  ] as const) {
    openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ]);
    execFileSync("sh", ["-c", `printf '${ext}' > ${name}.ext`], { cwd: certs!.path });
    openssl(
      ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"].concat([
        "-out",
        `${name}.pem`,
        "-extfile",
        `${name}.ext`,
        ...days,
      ]),
    );
  }
}

/**
 * The shipped sample node configuration, on a free port with this test's certificates. Its TLS settings
 * are used as they are; the listener lines that the private node sets itself are left out.
 */
function sampleNodeConfig(port: number): string[] {
  const sample = readFileSync(new URL("../../../configs/rabbitmq/rabbitmq.conf", import.meta.url), "utf8");
  const lines = sample.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
  expect(lines).toContain("ssl_options.fail_if_no_peer_cert = true");
  return lines
    .filter((line) => !/^(listeners\.tcp|loopback_users)/.test(line))
    .map((line) =>
      line
        .replace(/^listeners\.ssl\.default = 5671$/, `listeners.ssl.default = 127.0.0.1:${port}`)
        .replace("/etc/rabbitmq/tls/", "{dir}/"),
    );
}

function f(): Fleet {
  if (fleet === undefined) throw new Error("the fleet was not made (see beforeAll's error)");
  return fleet;
}

describe("amqps with a CA and client certificates", () => {
  beforeAll(async () => {
    certs = await tempDir("fleet-tls");
    makeCertificates();
    const pem = async (file: string) => readFile(join(certs!.path, file), "utf8");
    tlsPort = await freePort();
    node = await startPrivateNode({
      files: {
        "ca.pem": await pem("ca.pem"),
        "server.pem": await pem("server.pem"),
        "server.key": await pem("server.key"),
      },
      config: sampleNodeConfig(tlsPort),
    });
    fleet = await Fleet.create({
      agents: 2,
      // The certificate names localhost, so the URL does too: TLS checks the host name against it.
      brokerUrl: `amqps://guest:guest@localhost:${tlsPort}/`,
      rounds: 1000,
      label: "tls",
      global: {
        tls_ca: join(certs.path, "ca.pem"),
        tls_cert: join(certs.path, "client.pem"),
        tls_key: join(certs.path, "client.key"),
      },
    });
    await fleet.startAll();
  }, 180_000);

  afterAll(async () => {
    try {
      await fleet?.close();
    } finally {
      if (node !== undefined) await stopPrivateNode(node);
      await certs?.remove();
    }
  }, 60_000);

  it("a ban reaches every agent, and every connection to the node is TLS", async () => {
    const fl = f();
    const ban = await fl.ctl(["ban", "203.0.113.71", "--action", "net2ban-demo"]);
    expect(ban.stderr).toBe("");
    expect(ban.code).toBe(0);
    for (const agent of fl.agentNames) await fl.waitForBanLine(agent, "ban 203.0.113.71");

    const listed = execFileSync(
      "rabbitmqctl",
      ["-n", node!.name, "-q", "list_connections", "ssl", "peer_cert_subject"],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    const rows = listed
      .split("\n")
      .slice(1)
      .filter((line) => line.trim() !== "");
    // The server and both agents; net2banctl has disconnected already.
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) expect(row).toMatch(/^true\tCN=net2ban-fleet$/);
  }, 60_000);

  it("net2banctl without a client certificate is refused with one line naming the cause", async () => {
    const fl = f();
    const text = await readFile(fl.serverConfigPath, "utf8");
    const noCert = join(fl.dir, "no-client-cert.cfg");
    await writeFile(noCert, text.replace(/^tls_(cert|key) = .*\n/gm, ""), { mode: 0o600 });
    expect(await readFile(noCert, "utf8")).toContain("tls_ca = ");

    const refused = await fl.ctl(["ban", "203.0.113.72", "--action", "net2ban-demo"], noCert);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe("");
    const lines = refused.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^net2banctl: RabbitMQ unavailable: tried amqps://guest:\\*\\*\\*@localhost:${tlsPort}/ \\(.*certificate required.*\\)$`,
      ),
    );
    for (const agent of fl.agentNames) expect(await fl.banLines(agent)).not.toContain("ban 203.0.113.72");
  }, 60_000);
});
