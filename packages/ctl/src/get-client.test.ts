// net2banctl get_client: the shared broker login is never handed out silently.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./main.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "n2b-get-client-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const BASE = `[global]
url = amqp://net2ban:shared-pw@mq:5672/net2ban
rounds = 9
secret = s
authkey = a
mode = server
[server]
key = 1e3648858a30a105374c1a8a7f05e4fc0dff2abc
[web1]
key = k1
`;

async function getClient(source: string, name: string) {
  const path = join(dir, `${name}-${Math.random().toString(36).slice(2)}.cfg`);
  await writeFile(path, source, { mode: 0o600 });
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(["get_client", name, "--config", path], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join("\n"), err };
}

describe("get_client", () => {
  it("warns on stderr (one line) when the client gets the login every peer shares", async () => {
    const { code, out, err } = await getClient(BASE, "web1");
    expect(code).toBe(0);
    expect(out).toContain("url = amqp://net2ban:shared-pw@mq:5672/net2ban");
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^net2banctl: warning: .*\[web1\] has no url of its own/);
  });

  it("refuses with exit 2 where roles have their own logins, printing no file", async () => {
    const source = `${BASE}[web2]\nkey = k2\nurl = amqp://net2ban-web2:web2-pw@mq:5672/net2ban\n`;
    const { code, out, err } = await getClient(source, "web1");
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/\[web1\] url: missing; the file gives roles their own logins \(\[web2\] url\)/);
    const own = await getClient(source, "web2");
    expect(own.code).toBe(0);
    expect(own.err).toEqual([]);
    expect(own.out).not.toContain("shared-pw");
  });
});
