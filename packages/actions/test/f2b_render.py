#!/usr/bin/python3
# Reference renderer: prints what fail2ban 1.0.2 itself would execute for an action file.
#
# Run with /usr/bin/python3 (the interpreter that has Debian's fail2ban modules). Reads one JSON
# request per line on stdin and writes one JSON answer per line on stdout, so a test can batch
# hundreds of renderings through one process. Request:
#   {"dir": "/etc/fail2ban/action.d", "action": "iptables", "operation": "actionban",
#    "params": {"name": "sshd", "ip": "192.0.2.7", ...},
#    "hostname": {"fq": "host.example.com", "short": "host"}, "now": 1700000000, "ipv6": true}
# Answer: {"expect": <string | [script, arg0, ...] | null | {"commands": [...]}>} or {"error": "..."}.
#
# It drives fail2ban's own classes (ActionReader -> stream -> CommandAction) and captures the
# commands CommandAction hands to executeCmd instead of running them. Only the environment is
# replaced: hostname, reverse DNS (always fails), the clock and the jail object.

import json
import logging
import sys

from fail2ban.client.actionreader import ActionReader
from fail2ban.client.configreader import DefinitionInitConfigReader
from fail2ban.server import action as f2b_action
from fail2ban.server.action import CommandAction
from fail2ban.server.actions import Actions
from fail2ban.server.ipdns import DNSUtils, IPAddr
from fail2ban.server.mytime import MyTime
from fail2ban.server.ticket import BanTicket

TICKET_KEYS = (
    "ip", "failures", "time", "matches", "bantime", "bancount", "restored", "ipmatches",
    "ipjailmatches", "ipfailures", "ipjailfailures", "ip-host", "jail.banned",
    "jail.banned_total", "jail.found", "jail.found_total",
)
LIFECYCLE = ("actionstart", "actionstop", "actionflush", "actionreload")
TICKET_OPS = ("actionban", "actionunban", "actionprolong", "actionreban")

# fail2ban logs reader problems (e.g. "No section: 'Definition'"); the answers carry what matters
logging.getLogger("fail2ban").addHandler(logging.NullHandler())
logging.getLogger("fail2ban").propagate = False

_captured = []
# sequence mode: which executions fail, as [{"contains": text, "times": [n, ...]}]
_fail_rules = []
_seen = {}


def _capture(realCmd, timeout=60, **kwargs):
    _captured.append(realCmd if realCmd else None)
    script = realCmd if isinstance(realCmd, str) else (realCmd[0] if realCmd else "")
    for i, rule in enumerate(_fail_rules):
        if script and rule["contains"] in script:
            _seen[i] = _seen.get(i, 0) + 1
            if _seen[i] in rule["times"]:
                return False
    return True


CommandAction.executeCmd = staticmethod(_capture)
DNSUtils.ipToName = staticmethod(lambda ip: None)


class DirActionReader(ActionReader):
    """ActionReader reading NAME.conf from the given directory itself (not from <basedir>/action.d)."""

    def setFile(self, fileName):
        self._ActionReader__file = fileName
        DefinitionInitConfigReader.setFile(self, fileName)


class FakeBanManager:
    def __init__(self, ticket):
        self.ticket = ticket

    def size(self):
        return self.ticket.get("jail.banned", 0)

    def getBanTotal(self):
        return self.ticket.get("jail.banned_total", 0)


class FakeFailManager:
    def __init__(self, ticket):
        self.ticket = ticket

    def size(self):
        return self.ticket.get("jail.found", 0)

    def getFailTotal(self):
        return self.ticket.get("jail.found_total", 0)


class FakeFilter:
    def __init__(self, ticket):
        self.failManager = FakeFailManager(ticket)


class FakeActions:
    """What CommandAction uses of jail.actions: the empty-ticket factory and the jail's bantime."""

    def __init__(self, jail, ticket):
        self._jail = jail
        self._ticket = ticket
        self.banManager = FakeBanManager(ticket)
        self.banEpoch = 0

    def getBanTime(self):
        return self._ticket.get("bantime", 600)

    def _getActionInfo(self, ticket):
        if not ticket:
            ticket = BanTicket("", MyTime.time())
        return Actions.ActionInfo(ticket, self._jail)


class FakeJail:
    def __init__(self, name, ticket):
        self.name = name
        self.database = None
        self.actions = FakeActions(self, ticket)
        self.filter = FakeFilter(ticket)

    def __str__(self):
        return self.name


def ticket_info(jail, ticket):
    """An ActionInfo for a ban ticket whose values are the given strings, as the agent receives them."""
    data = dict(Actions.ActionInfo.AI_DICT)
    ip = IPAddr(ticket["ip"])
    fdata = {}
    for key, value in ticket.items():
        if key.startswith("F-"):
            from fail2ban.server.failregex import mapTag2Opt

            fdata[mapTag2Opt(key[2:])] = value
    matches = ticket.get("matches", "")
    failures = ticket.get("failures", 0)
    fixed = {
        "ip": ip,
        "fid": ip,
        "failures": failures,
        "time": ticket.get("time", MyTime.time()),
        "bantime": ticket.get("bantime", 600),
        "bancount": ticket.get("bancount", 0),
        "matches": matches,
        "restored": ticket.get("restored", 0),
        "ipmatches": ticket.get("ipmatches", matches),
        "ipjailmatches": ticket.get("ipjailmatches", matches),
        "ipfailures": ticket.get("ipfailures", failures),
        "ipjailfailures": ticket.get("ipjailfailures", failures),
        "ip-host": ticket.get("ip-host", None),
        "jail.banned": ticket.get("jail.banned", 0),
        "jail.banned_total": ticket.get("jail.banned_total", 0),
        "jail.found": ticket.get("jail.found", 0),
        "jail.found_total": ticket.get("jail.found_total", 0),
    }
    for key, value in fixed.items():
        data[key] = (lambda v: lambda self: v)(value)
    data["F-*"] = lambda self, tag=None: fdata
    return Actions.ActionInfo(BanTicket(ip, 0), jail, data=data)


def build_action(req):
    params = req["params"]
    ticket = {k: v for k, v in params.items() if k in TICKET_KEYS or k.startswith("F-")}
    options = {k: v for k, v in params.items() if k not in ticket}
    reader = DirActionReader(req["action"], "__jail__", dict(options), basedir=req["dir"])
    if not reader.read():
        raise ValueError("action %r not found in %s" % (req["action"], req["dir"]))
    # the jail name is the `name` option, else the file's [Init] name, else "default"
    jail_name = options.get("name")
    if jail_name is None:
        try:
            jail_name = reader.get("Init", "name")
        except Exception:
            jail_name = "default"
    reader = DirActionReader(req["action"], jail_name, dict(options), basedir=req["dir"])
    reader.read()
    reader.getOptions({})
    stream = reader.convert()
    jail = FakeJail(jail_name, ticket)
    act = CommandAction(jail, stream[0][3])
    for cmd in stream[1:]:
        if cmd[0] == "multi-set":
            for key, value in cmd[4]:
                setattr(act, key, value)
        else:
            setattr(act, cmd[4], cmd[5])
    return act, jail, ticket


def collected():
    cmds = list(_captured)
    del _captured[:]
    if not cmds:
        return None
    if len(cmds) == 1:
        return cmds[0]
    return {"commands": cmds}


def render(req):
    hostname = req.get("hostname", {"fq": "host.example.com", "short": "host"})
    DNSUtils.getHostname = staticmethod(lambda fqdn=True: hostname["fq"] if fqdn else hostname["short"])
    f2b_action.allowed_ipv6 = (lambda v: lambda: v)(req.get("ipv6", True))
    MyTime.setTime(req.get("now", 1700000000))
    del _captured[:]
    act, jail, ticket = build_action(req)
    op = req["operation"]
    family = IPAddr(ticket["ip"]).familyStr if "ip" in ticket else None

    def start():
        if act._startOnDemand:
            act._start(family, forceStart=True)
        else:
            act.start()

    if op in TICKET_OPS or (op == "actionflush" and family):
        if not family:
            raise ValueError("operation %s needs an ip" % op)
        info = ticket_info(jail, ticket)
        start()
        if op == "actionflush":
            act.ban(info)
            del _captured[:]
            act.flush()
            return collected()
        if op != "actionban":
            act.ban(info)
        del _captured[:]
        getattr(act, op[len("action"):])(info)
        return collected()
    if op == "actionstart":
        start()
        return collected()
    if op in LIFECYCLE:
        start()
        if op == "actionflush":
            started = act._CommandAction__started
            for f in started:
                started[f] |= 2
        del _captured[:]
        {"actionstop": act.stop, "actionflush": act.flush, "actionreload": act.reload}[op]()
        return collected()
    if op in ("actioncheck", "actionrepair"):
        if family is not None:
            families = [family]
        else:
            families = act._families
        cmds = []
        for fam in families:
            cmd = act._getOperation("<%s>" % op, fam)
            cmd = cmd if cmd else None
            if cmd not in cmds:
                cmds.append(cmd)
        cmds = [c for c in cmds if c is not None]
        if not cmds:
            return None
        return cmds[0] if len(cmds) == 1 else {"commands": cmds}
    raise ValueError("unknown operation %r" % op)


def run_sequence(req):
    """Runs a jail's life on one CommandAction: ban/unban/stop steps; returns every command executed.

    Steps share the first step's caller options (one jail, one action). A failed ban is recorded as
    the failure fail2ban raises and the sequence goes on, as the jail would with the next ticket.
    """
    global _fail_rules, _seen
    _fail_rules = req.get("fail", [])
    _seen = {}
    hostname = req.get("hostname", {"fq": "host.example.com", "short": "host"})
    DNSUtils.getHostname = staticmethod(lambda fqdn=True: hostname["fq"] if fqdn else hostname["short"])
    f2b_action.allowed_ipv6 = (lambda v: lambda: v)(req.get("ipv6", True))
    MyTime.setTime(req.get("now", 1700000000))
    del _captured[:]
    first = dict(req, params=req["steps"][0]["params"])
    act, jail, _ = build_action(first)
    try:
        act.start()  # the jail starts (a no-op for start-on-demand actions); Actions.run logs failures
    except RuntimeError:
        pass
    for step in req["steps"]:
        ticket = {k: v for k, v in step["params"].items() if k in TICKET_KEYS or k.startswith("F-")}
        op = step["operation"]
        try:
            if op == "actionstop":
                act.stop()
            else:
                info = ticket_info(jail, ticket)
                if op == "actionban" and ticket.get("restored") == "1" and getattr(act, "norestored", False):
                    continue
                getattr(act, op[len("action"):])(info)
        except RuntimeError:
            pass
    _fail_rules = []
    return list(_captured)


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            if "steps" in req:
                out = {"expect": run_sequence(req)}
            else:
                out = {"expect": render(req)}
        except Exception as e:  # fail2ban rejects the action: report, keep serving
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
