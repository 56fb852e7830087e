// Unit-file reading: the settings the systemd and getting-started checks act out.
import { describe, expect, it } from "vitest";
import { parseUnitFile, unitCapabilities, unitExecStart, unitValue } from "./systemd-unit.js";

const sample = `# comment
[Unit]
Description=x

[Service]
; other comment
User=net2ban
ExecStart=net2ban-agent \\
  --config /etc/net2ban/net2ban.cfg
AmbientCapabilities=CAP_NET_ADMIN
AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN
CapabilityBoundingSet=CAP_SYS_ADMIN
CapabilityBoundingSet=
CapabilityBoundingSet=CAP_NET_RAW
`;

describe("parseUnitFile", () => {
  it("reads sections, repeated keys and continuations", () => {
    const unit = parseUnitFile(sample);
    expect(unitValue(unit, "Unit", "Description")).toBe("x");
    expect(unitValue(unit, "Service", "User")).toBe("net2ban");
    expect(unitExecStart(unit)).toEqual(["net2ban-agent", "--config", "/etc/net2ban/net2ban.cfg"]);
  });

  it("accumulates capability lists and resets them on an empty assignment", () => {
    const unit = parseUnitFile(sample);
    expect(unitCapabilities(unit, "AmbientCapabilities")).toEqual(["net_admin", "net_raw"]);
    expect(unitCapabilities(unit, "CapabilityBoundingSet")).toEqual(["net_raw"]);
    expect(unitCapabilities(unit, "Nothing")).toEqual([]);
  });

  it("refuses a line outside a section and an ExecStart it cannot split safely", () => {
    expect(() => parseUnitFile("User=x\n")).toThrow(/line 1/);
    expect(() => unitExecStart(parseUnitFile('[Service]\nExecStart=sh -c "a b"\n'))).toThrow(/quoting/);
    expect(() => unitExecStart(parseUnitFile("[Service]\nUser=x\n"))).toThrow(/no ExecStart/);
  });
});
