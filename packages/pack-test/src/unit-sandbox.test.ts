// The command line unit-sandbox.ts builds from a unit's settings (unit-sandbox.int.test.ts runs it).
import { describe, expect, it } from "vitest";
import { parseUnitFile } from "./systemd-unit.js";
import { actOutUnit, UnsupportedUnitSettingError } from "./unit-sandbox.js";

const options = { sandboxScript: "/x/service-sandbox.py", resolveCommand: (name: string) => `/opt/${name}` };

const agent = `[Service]
Type=exec
User=net2ban
Group=net2ban
ExecStart=net2ban-agent --config /etc/net2ban/net2ban.cfg
KillSignal=SIGINT
StateDirectory=net2ban
StateDirectoryMode=0750
AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
ReadWritePaths=-/etc/net2ban/action.d /srv/x
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
RestrictAddressFamilies=AF_INET AF_INET6
RestrictAddressFamilies=AF_NETLINK
UMask=0027
ProtectKernelTunables=yes
SystemCallFilter=@system-service
SystemCallFilter=ioctl
SystemCallErrorNumber=EPERM
ProtectClock=yes
`;

/** The spec (JSON after the script) and setpriv's arguments (after "setpriv", up to "--"). */
function parts(argv: string[]) {
  const script = argv.indexOf("/x/service-sandbox.py");
  const setpriv = argv.indexOf("setpriv");
  const end = argv.indexOf("--", setpriv);
  return {
    spec: JSON.parse(argv[script + 1] ?? "null") as Record<string, unknown>,
    setpriv: argv.slice(setpriv + 1, end),
    command: argv.slice(end + 1),
  };
}

describe("actOutUnit", () => {
  it("builds unshare, the sandbox script and setpriv from the unit's settings", () => {
    const acted = actOutUnit(parseUnitFile(agent), options);
    expect(acted.argv.slice(0, 6)).toEqual([
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "/usr/bin/python3",
      "/x/service-sandbox.py",
    ]);
    const { spec, setpriv, command } = parts(acted.argv);
    expect(spec).toEqual({
      overlays: [],
      stateDirectories: [{ path: "/var/lib/net2ban", user: "net2ban", group: "net2ban", mode: "0750" }],
      protectSystem: "strict",
      readWritePaths: [
        { path: "/etc/net2ban/action.d", optional: true },
        { path: "/srv/x", optional: false },
      ],
      protectKernelTunables: true,
      protectControlGroups: false,
      protectHome: "yes",
      privateTmp: true,
      keepVisible: [],
      user: "net2ban",
      umask: "0027",
      addressFamilies: ["AF_INET", "AF_INET6", "AF_NETLINK"],
      systemCallFilter: { allow: ["@system-service", "ioctl"], errno: "EPERM" },
    });
    expect(setpriv).toEqual([
      "--reuid=net2ban",
      "--regid=net2ban",
      "--init-groups",
      "--inh-caps=-all,+net_admin,+net_raw",
      "--ambient-caps=-all,+net_admin,+net_raw",
      "--bounding-set=-all,+net_admin,+net_raw",
      "--no-new-privs",
    ]);
    expect(command).toEqual(["/opt/net2ban-agent", "--config", "/etc/net2ban/net2ban.cfg"]);
    expect(acted.killSignal).toBe("SIGINT");
    expect(acted.env["PATH"]).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    expect(acted.notActedOut).toEqual(["Type", "ProtectClock"]);
  });

  it("an empty CapabilityBoundingSet= drops every capability; none at all keeps the bounding set", () => {
    const base = "[Service]\nUser=u\nExecStart=/bin/d\n";
    const empty = parts(actOutUnit(parseUnitFile(`${base}CapabilityBoundingSet=\n`), options).argv);
    expect(empty.setpriv).toContain("--bounding-set=-all");
    const none = parts(actOutUnit(parseUnitFile(base), options).argv);
    expect(none.setpriv.some((arg) => arg.startsWith("--bounding-set"))).toBe(false);
    expect(none.setpriv).not.toContain("--no-new-privs");
    expect(none.spec["addressFamilies"]).toBeNull();
    expect(none.spec["systemCallFilter"]).toBeNull();
    expect(none.command).toEqual(["/bin/d"]);
  });

  it("refuses values it would act out wrongly, naming the setting", () => {
    const base = "[Service]\nUser=u\nExecStart=/bin/d\n";
    for (const [line, message] of [
      ["ProtectSystem=full", /ProtectSystem=full/],
      ["RestrictAddressFamilies=~AF_PACKET", /~AF_PACKET/],
      ["ProtectHome=maybe", /ProtectHome=maybe/],
      ["PrivateTmp=perhaps", /PrivateTmp=perhaps: not a boolean/],
      ["ReadWritePaths=relative/path", /relative\/path/],
      ["StateDirectory=/abs", /StateDirectory: \/abs/],
      ["UMask=abc", /UMask=abc/],
      ["SystemCallFilter=~@mount", /~@mount/],
      ["SystemCallFilter=@system-service\nSystemCallErrorNumber=1", /SystemCallErrorNumber=1/],
    ] as const) {
      expect(() => actOutUnit(parseUnitFile(`${base}${line}\n`), options), line).toThrow(
        UnsupportedUnitSettingError,
      );
      expect(() => actOutUnit(parseUnitFile(`${base}${line}\n`), options), line).toThrow(message);
    }
  });
});
