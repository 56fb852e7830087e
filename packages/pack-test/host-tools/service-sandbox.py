#!/usr/bin/python3
# Acts out the file-system, umask and seccomp settings of a systemd unit (mounts, state directory, address
# families, system calls) for a test, the way systemd applies them before it starts the service, then
# execs the rest of its command line (setpriv, which drops to the unit's user and capabilities, then the
# service). Runs as root, inside a mount namespace of its own (`unshare --mount --propagation private`):
# nothing it mounts is seen outside.
# Built and called by packages/pack-test/src/unit-sandbox.ts; the spec (argv[1], JSON) says what to do.
#
# Exit codes are systemd's for the same failures (203 EXEC, 217 USER, 226 NAMESPACE, 228 SECCOMP,
# 238 STATE_DIRECTORY), so a sandbox that cannot be set up is told apart from a service that fails.
import errno
import grp
import json
import os
import pwd
import socket
import subprocess
import sys

EXIT_EXEC = 203
EXIT_USER = 217
EXIT_NAMESPACE = 226
EXIT_SECCOMP = 228
EXIT_STATE_DIRECTORY = 238

# systemd leaves the kernel's API file systems writable under ProtectSystem=strict.
API_FILE_SYSTEMS = ("/proc", "/sys", "/dev")


def fail(code, line):
    print(f"service-sandbox: {line}", file=sys.stderr)
    sys.exit(code)


def mount(*args):
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        fail(EXIT_NAMESPACE, f"mount {' '.join(args)} failed: {result.stderr.strip()}")


def under(path, roots):
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def unescape(field):
    # mountinfo writes space, tab, newline and backslash as \ooo.
    out, i = "", 0
    while i < len(field):
        digits = field[i + 1 : i + 4]
        if field[i] == "\\" and len(digits) == 3 and digits.isdigit():
            out += chr(int(digits, 8))
            i += 4
        else:
            out += field[i]
            i += 1
    return out


def mounts():
    """(mount point, per-mount options) of every mount of this namespace, parents first."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            yield unescape(fields[4]), fields[5].split(",")


def overlay(target, upper, work):
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    mount("-t", "overlay", "n2b-sandbox", "-o", f"lowerdir={target},upperdir={upper},workdir={work}", target)


def state_directory(spec):
    """StateDirectory=: created for the unit's user and group, with StateDirectoryMode=."""
    path = spec["path"]
    try:
        uid = pwd.getpwnam(spec["user"]).pw_uid
        gid = grp.getgrnam(spec["group"]).gr_gid
        os.makedirs(path, exist_ok=True)
        info = os.stat(path)
        if (info.st_uid, info.st_gid) != (uid, gid):
            for root, dirs, files in os.walk(path):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, uid, gid)
        os.chmod(path, int(spec["mode"], 8))
    except (KeyError, OSError) as error:
        fail(EXIT_STATE_DIRECTORY, f"StateDirectory {path}: {error}")


def protect_system_strict(writable):
    """ProtectSystem=strict: every mount read-only except the API file systems and `writable`."""
    for path in writable:
        mount("--bind", path, path)
    seen = set()
    for point, options in list(mounts()):
        if point in seen or under(point, API_FILE_SYSTEMS) or under(point, writable) or "ro" in options:
            continue
        seen.add(point)
        mount("-o", "remount,bind,ro", point)


# ProtectKernelTunables=: what systemd makes read-only in /proc (besides all of /sys).
KERNEL_TUNABLES = (
    "/proc/acpi", "/proc/apm", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/latency_stats",
    "/proc/mtrr", "/proc/scsi", "/proc/sys", "/proc/sysrq-trigger", "/proc/timer_list", "/proc/timer_stats",
)


def read_only_trees(roots):
    """Every mount at or under `roots` read-only; a root that is no mount of its own is bound first."""
    points = [point for point, _ in mounts()]
    for root in roots:
        if not os.path.exists(root):
            continue
        if root not in points:
            mount("--bind", root, root)
    for point, options in list(mounts()):
        if under(point, roots) and "ro" not in options:
            mount("-o", "remount,bind,ro", point)


def protect_home(mode):
    for path in ("/home", "/root", "/run/user"):
        if not os.path.isdir(path):
            continue
        if mode == "read-only":
            mount("--bind", path, path)
            mount("-o", "remount,bind,ro", path)
        else:
            # yes: inaccessible (mode 000); tmpfs: an empty read-only directory.
            mount("-t", "tmpfs", "-o", f"ro,mode={'000' if mode == 'yes' else '755'}", "n2b-home", path)


def private_tmp(keep):
    """PrivateTmp=: empty /tmp and /var/tmp. `keep` stays visible: the test's stand-in for the installed
    program (a checkout under /tmp stands for /usr), bound back from a handle taken before the tmpfs."""
    for path in ("/tmp", "/var/tmp"):
        held = [(item, os.open(item, os.O_PATH)) for item in keep if under(item, [path]) and os.path.isdir(item)]
        mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "n2b-tmp", path)
        for item, fd in held:
            os.makedirs(item, exist_ok=True)
            # --no-canonicalize: resolved, the handle's path would name the new, empty directory
            mount("--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{fd}", item)
            os.close(fd)


def load_seccomp():
    try:
        import seccomp
    except ImportError:
        fail(EXIT_SECCOMP, "python3-seccomp is missing (apt-get install python3-seccomp; scripts/setup-host.sh)")
    return seccomp


def restrict_address_families(names):
    """RestrictAddressFamilies=: socket() of any other family fails with EAFNOSUPPORT, as systemd does."""
    seccomp = load_seccomp()
    allowed = set()
    for name in names:
        family = getattr(socket, name, None)
        if family is None:
            fail(EXIT_SECCOMP, f"unknown address family {name}")
        allowed.add(int(family))
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    # Root may load a filter without no_new_privs; setting it here would act out NoNewPrivileges=yes for
    # units that do not ask for it.
    rules.set_attr(seccomp.Attr.CTL_NNP, 0)
    highest = max(allowed, default=-1)
    for family in range(0, highest):
        if family not in allowed:
            rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, family))
    rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GT, highest))
    try:
        rules.load()
    except OSError as error:
        fail(EXIT_SECCOMP, f"loading the address-family filter failed: {error}")


def syscall_groups():
    """systemd's syscall groups (@system-service, ...) as `systemd-analyze syscall-filter` lists them."""
    result = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True, text=True)
    if result.returncode != 0:
        fail(EXIT_SECCOMP, f"systemd-analyze syscall-filter failed: {result.stderr.strip()}")
    groups, current = {}, None
    for line in result.stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("#"):
            current = None
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names, groups, seen):
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        if name.startswith("@"):
            if name not in groups:
                fail(EXIT_SECCOMP, f"unknown system call group {name}")
            expand(groups[name], groups, seen)
    return {name for name in seen if not name.startswith("@")}


def system_call_filter(spec):
    """SystemCallFilter= (an allow list) with SystemCallErrorNumber=: every other call fails with that errno."""
    seccomp = load_seccomp()

    allowed = expand(spec["allow"], syscall_groups(), set())
    code = getattr(errno, spec["errno"], None) if spec.get("errno") else None
    if spec.get("errno") and code is None:
        fail(EXIT_SECCOMP, f"unknown errno {spec['errno']}")
    # Without SystemCallErrorNumber= systemd kills the process on a call outside the list.
    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(code) if code is not None else seccomp.KILL_PROCESS)
    rules.set_attr(seccomp.Attr.CTL_NNP, 0)
    for name in sorted(allowed):
        try:
            rules.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            # A call of another architecture, or one this libseccomp does not know: nothing to allow here.
            continue
    try:
        rules.load()
    except OSError as error:
        fail(EXIT_SECCOMP, f"loading the system call filter failed: {error}")


def main():
    if len(sys.argv) < 3:
        fail(2, "usage: service-sandbox.py SPEC-JSON COMMAND [ARG...]")
    spec = json.loads(sys.argv[1])
    command = sys.argv[2:]
    for item in spec.get("overlays", []):
        overlay(item["target"], item["upper"], item["work"])
    for item in spec.get("stateDirectories", []):
        state_directory(item)
    if spec.get("protectSystem") == "strict":
        writable = [item["path"] for item in spec.get("stateDirectories", [])]
        for item in spec.get("readWritePaths", []):
            if os.path.exists(item["path"]):
                writable.append(item["path"])
            elif not item["optional"]:
                fail(EXIT_NAMESPACE, f"ReadWritePaths {item['path']}: no such file or directory")
        protect_system_strict(writable)
    if spec.get("protectKernelTunables"):
        read_only_trees([*KERNEL_TUNABLES, "/sys"])
    if spec.get("protectControlGroups"):
        read_only_trees(["/sys/fs/cgroup"])
    if spec.get("protectHome"):
        protect_home(spec["protectHome"])
    if spec.get("privateTmp"):
        private_tmp(spec.get("keepVisible", []))
    user = spec.get("user")
    if user is not None:
        # What systemd sets for User= (the rest of the environment is the caller's, already minimal).
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            fail(EXIT_USER, f"User {user}: no such user")
        os.environ.update(HOME=entry.pw_dir, USER=user, LOGNAME=user, SHELL=entry.pw_shell)
    if spec.get("umask") is not None:
        os.umask(int(spec["umask"], 8))
    if spec.get("addressFamilies") is not None:
        restrict_address_families(spec["addressFamilies"])
    if spec.get("systemCallFilter") is not None:
        system_call_filter(spec["systemCallFilter"])
    os.chdir("/")
    try:
        os.execvp(command[0], command)
    except OSError as error:
        fail(EXIT_EXEC, f"{command[0]}: {error}")


main()
