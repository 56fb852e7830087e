// The shipped sample configs parse without warnings, and the client sample is what the server
// sample exports for client1 (same settings, comments aside).
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { exportClientConfig } from "./export.js";
import { clientConfig, parseConfig } from "./resolve.js";

const configs = new URL("../../../configs/", import.meta.url);
const read = (name: string) => readFile(new URL(name, configs), "utf8");

describe("configs/ samples", () => {
  it("net2ban.cfg and net2ban.client.cfg read cleanly and agree on client1", async () => {
    const server = parseConfig(await read("net2ban.cfg"), "net2ban.cfg");
    const client = parseConfig(await read("net2ban.client.cfg"), "net2ban.client.cfg");
    expect(server.warnings).toEqual([]);
    expect(client.warnings).toEqual([]);
    expect(server.config.mode).toBe("server");
    expect(client.config.mode).toBe("client");
    expect(client.config.server).toBeUndefined();
    expect(client.config.clients).toEqual([clientConfig(server.config, "client1")]);
    const { document: _s, path: _sp, mode: _sm, server: _ss, clients: _sc, ...serverRest } = server.config;
    const { document: _c, path: _cp, mode: _cm, clients: _cc, ...clientRest } = client.config;
    expect(clientRest).toEqual(serverRest);
  });

  it("net2ban.client.cfg carries exactly the values get_client prints", async () => {
    const server = parseConfig(await read("net2ban.cfg"), "net2ban.cfg");
    const stripComments = (text: string) =>
      text
        .split("\n")
        .filter((line) => !line.startsWith("#"))
        .join("\n")
        .replace(/\n{2,}/g, "\n\n")
        .trim();
    expect(stripComments(await read("net2ban.client.cfg"))).toBe(
      stripComments(exportClientConfig(server.config, "client1")),
    );
  });
});
