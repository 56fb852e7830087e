// amqps:// with CA, client certificate and key, against a private node with a TLS listener that
// verifies peers. Certificates are made with openssl for the test and removed afterwards.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  memoryLogger,
  type PrivateNode,
  startPrivateNode,
  stopPrivateNode,
  type TempDir,
  tempDir,
} from "@net2ban/test-fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "./broker.js";
import { BrokerUnavailableError } from "./errors.js";

let node: PrivateNode;
let certs: TempDir;
let tlsPort: number;
const pem: Record<string, string> = {};

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: certs.path, stdio: "pipe", timeout: 30_000 });
}

/** A CA, a server certificate for "localhost", a client certificate, and a second, unrelated CA. */
function makeCertificates(): void {
  const days = ["-days", "2"];
  openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-subj",
    "/CN=net2ban test CA",
    ...days,
  ]);
  openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "other-ca.key",
    "-out",
    "other-ca.pem",
    "-subj",
    "/CN=other CA",
    ...days,
  ]);
  for (const [name, subject, ext] of [
    ["server", "/CN=localhost", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n"],
    ["client", "/CN=net2ban-agent", "extendedKeyUsage=clientAuth\n"],
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
    execFileSync("sh", ["-c", `printf '${ext}' > ${name}.ext`], { cwd: certs.path });
    openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-extfile",
      `${name}.ext`,
      ...days,
    ]);
  }
  for (const file of ["ca.pem", "other-ca.pem", "server.pem", "server.key", "client.pem", "client.key"]) {
    pem[file] = readFileSync(join(certs.path, file), "utf8");
  }
}

beforeAll(async () => {
  certs = await tempDir("tls-certs");
  makeCertificates();
  tlsPort = await freePort();
  node = await startPrivateNode({
    files: { "ca.pem": pem["ca.pem"]!, "server.pem": pem["server.pem"]!, "server.key": pem["server.key"]! },
    config: [
      `listeners.ssl.default = 127.0.0.1:${tlsPort}`,
      "ssl_options.cacertfile = {dir}/ca.pem",
      "ssl_options.certfile = {dir}/server.pem",
      "ssl_options.keyfile = {dir}/server.key",
      "ssl_options.verify = verify_peer",
      "ssl_options.fail_if_no_peer_cert = true",
    ],
  });
}, 120_000);

afterAll(async () => {
  if (node !== undefined) await stopPrivateNode(node);
  await certs?.remove();
}, 60_000);

describe("TLS", () => {
  it("connects over amqps:// with CA, client certificate and key; the server name is the URL host", async () => {
    const broker = await connectBroker({
      urls: [`amqps://guest:guest@localhost:${tlsPort}/`],
      tls: { ca: pem["ca.pem"]!, cert: Buffer.from(pem["client.pem"]!), key: pem["client.key"]! },
      logger: memoryLogger(),
    });
    try {
      await broker.assertQueue({ name: "over-tls" });
      await broker.publish("over-tls", Buffer.from("secret ban"));
      expect(await broker.queueInfo("over-tls")).toEqual({ messageCount: 1, consumerCount: 0 });
    } finally {
      await broker.close();
    }
  });

  it("refuses a broker whose certificate another CA signed", async () => {
    const error = await connectBroker({
      urls: [`amqps://guest:guest@localhost:${tlsPort}/`],
      tls: { ca: pem["other-ca.pem"]!, cert: pem["client.pem"]!, key: pem["client.key"]! },
      logger: memoryLogger(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as Error).message).toMatch(/self-signed certificate in certificate chain/);
    expect((error as Error).message).toContain("amqps://guest:***@localhost:");
  });

  it("is refused by the broker without a client certificate", async () => {
    const error = await connectBroker({
      urls: [`amqps://guest:guest@localhost:${tlsPort}/`],
      tls: { ca: pem["ca.pem"]! },
      logger: memoryLogger(),
      connectTimeoutMs: 5_000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as Error).message).toMatch(/certificate required/);
  });
});
