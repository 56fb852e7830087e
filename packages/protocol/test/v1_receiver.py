#!/usr/bin/python3
# A v1 receiver written from the original's algorithm (net2ban 0.0.2b, see /work/shared/legacy-vectors/
# README.md), independent of the TypeScript codec: Python's hashlib and hmac, AES-256-CBC by the openssl
# command. Reads {"messages": [{key, secret, rounds, authkey, wire_b64}, ...]} on stdin and prints, per
# message, {"ok": true, "plaintext": ...} or {"ok": false, "reason": ...}.
import base64
import hashlib
import hmac
import json
import subprocess
import sys


def session_key(key, secret, rounds):
    raw = hashlib.pbkdf2_hmac("sha256", key.encode("utf-8"), secret.encode("utf-8"), rounds, 32)
    # passlib's ab64: base64 with "." for "+", no padding; the first 32 characters are the AES key.
    return base64.b64encode(raw).decode("ascii").replace("+", ".").rstrip("=")[:32].encode("ascii")


def open_v1(m):
    wire = base64.b64decode(m["wire_b64"])
    if len(wire) < 16 + 16 + 64 or (len(wire) - 16 - 64) % 16 != 0:
        return {"ok": False, "reason": "bad-length"}
    body, mac = wire[:-64], wire[-64:]
    expected = hmac.new(m["authkey"].encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, mac):
        return {"ok": False, "reason": "mac-mismatch"}
    iv, ciphertext = body[:16], body[16:]
    out = subprocess.run(
        ["openssl", "enc", "-d", "-aes-256-cbc", "-K", session_key(m["key"], m["secret"], m["rounds"]).hex(), "-iv", iv.hex()],
        input=ciphertext,
        capture_output=True,
    )
    if out.returncode != 0:
        return {"ok": False, "reason": "bad-padding"}
    plaintext = out.stdout.decode("utf-8")
    json.loads(plaintext)
    return {"ok": True, "plaintext": plaintext}


print(json.dumps([open_v1(m) for m in json.load(sys.stdin)["messages"]]))
