#!/usr/bin/python3
# Writes ../vectors/v2.json: v2 keys and wires made by an independent implementation of docs/protocol.md
# (hashlib PBKDF2, HKDF written out from RFC 5869, AES-256-CBC from the `cryptography` package).
# Deterministic: fixed keys, fixed IVs.
import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DIRECTIONS = {"to-server": 1, "to-agent": 2, "from-agent": 3}


def hkdf_sha256(ikm, salt, info, length=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def v2_keys(m, key_id, direction):
    base = hashlib.pbkdf2_hmac("sha256", m["key"].encode(), b"net2ban v2 pbkdf2\0" + m["secret"].encode(), m["rounds"], 32)
    info = lambda purpose: ("net2ban v2\0%s\0%s\0%s" % (purpose, direction, key_id)).encode()
    return hkdf_sha256(base, m["authkey"].encode(), info("enc")), hkdf_sha256(base, m["authkey"].encode(), info("mac"))


def header(direction, key_id):
    kid = key_id.encode()
    return bytes([2, DIRECTIONS[direction], len(kid)]) + kid


def cbc(enc, iv, data, pad=True):
    if pad:
        padder = padding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
    e = Cipher(algorithms.AES(enc), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def seal(m, key_id, direction, plaintext, iv, hdr=None, pad=True):
    enc, mac = v2_keys(m, key_id, direction)
    body = (hdr if hdr is not None else header(direction, key_id)) + iv + cbc(enc, iv, plaintext, pad)
    return body + hmac.new(mac, body, hashlib.sha256).digest()


def js(obj):
    # What JSON.stringify writes for these (ASCII-only or BMP) values.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


server = {"key": "1e3648858a30a105374c1a8a7f05e4fc0dff2abc", "secret": "57bae6f17927fee0309cd0fcf900903d0bf49277",
          "rounds": 1000, "authkey": "fe64809ba0286c72123d15ffb3554f261ef835d0"}
client1 = dict(server, key="ca82cd669623f6434e02eecade0236b50fc18cb3")
client2 = dict(server, key="767c138a4483e692f41af3d1491f06c0ead41b5b", rounds=100)

ban = {"cmd": "exec", "file": "iptables-multiport", "action": "actionban", "params": {"ip": "203.0.113.9", "name": "sshd"},
       "timestamp": 1700000000.25, "id": "6f1c2a5e-8b3d-4c7e-9f10-2a3b4c5d6e7f", "sender": "correlator"}
limited = dict(ban, id="0b5c8f7e-1d2a-4e3b-8c9d-0e1f2a3b4c5d", expires=1700000600.5, to=["client1", "client2"])
update = {"cmd": "update", "file": "iptables-multiport", "content": base64.b64encode(b"[Definition]\nactionban = true\n").decode(),
          "client": "client1", "timestamp": 1700000001.5, "id": "c2e1b0a9-9f8e-4d7c-8b6a-5f4e3d2c1b0a", "sender": "ctl.example.org"}
result = {"cmd": "result", "id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "sender": "client1.example.org", "timestamp": 1700000000.75,
          "requestId": "6f1c2a5e-8b3d-4c7e-9f10-2a3b4c5d6e7f", "client": "client1", "ok": False, "exitCode": 2,
          "durationMs": 12.5, "stderr": "iptables: No chain/target/match by that name.\n"}

iv1 = bytes(range(16))
iv2 = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")

positive = [
    ("ban_to_server", server, "server", "to-server", ban, iv1),
    ("ban_to_agent_client1", client1, "client1", "to-agent", ban, iv2),
    ("limited_to_agent_client2", client2, "client2", "to-agent", limited, iv1),
    ("update_to_agent_client1", client1, "client1", "to-agent", update, iv2),
    ("result_from_agent_client1", client1, "client1", "from-agent", result, iv1),
]

vectors = []
for name, m, key_id, direction, message, iv in positive:
    enc, mac = v2_keys(m, key_id, direction)
    vectors.append({"name": name, "keys": m, "keyId": key_id, "direction": direction, "iv_hex": iv.hex(),
                    "enc_key_hex": enc.hex(), "mac_key_hex": mac.hex(), "plaintext_json": js(message).decode(),
                    "wire_b64": base64.b64encode(seal(m, key_id, direction, js(message), iv)).decode()})


def negative(name, m, key_id, direction, wire, reason, code):
    vectors.append({"name": name, "keys": m, "keyId": key_id, "direction": direction,
                    "wire_b64": base64.b64encode(wire).decode(), "expect": "reject", "code": code, "reason": reason})


# Each is sealed with a valid MAC (the attacker holds the right keys, or it is a bug), so only the step
# named in `code` can catch it.
negative("neg_direction_byte_changed", server, "server", "to-server",
         seal(server, "server", "to-server", js(ban), iv1, hdr=header("to-agent", "server")),
         "header says to-agent, keys are to-server; receiver expects to-server", "wrong-direction")
negative("neg_key_id_changed", client1, "client1", "to-agent",
         seal(client1, "client1", "to-agent", js(ban), iv1, hdr=header("to-agent", "client2")),
         "header names client2 on client1's queue", "wrong-key-id")
negative("neg_sealed_for_client2", client1, "client1", "to-agent",
         seal(client2, "client1", "to-agent", js(ban), iv1),
         "client2's keys under a client1 header: MAC fails for client1", "mac-mismatch")
negative("neg_version_1_byte", server, "server", "to-server",
         seal(server, "server", "to-server", js(ban), iv1, hdr=bytes([1]) + header("to-server", "server")[1:]),
         "version byte 1", "wrong-version")
negative("neg_bad_padding_valid_mac", server, "server", "to-server",
         seal(server, "server", "to-server", js(ban) + b" " * (16 - len(js(ban)) % 16 - 1) + b"\x00", iv1, pad=False),
         "last plaintext byte 0: not PKCS#7; MAC valid", "bad-padding")
negative("neg_not_json_valid_mac", server, "server", "to-server",
         seal(server, "server", "to-server", b"{\"cmd\": exec}", iv1), "plaintext is not JSON; MAC valid", "bad-json")
negative("neg_not_utf8_valid_mac", server, "server", "to-server",
         seal(server, "server", "to-server", b"{\"cmd\":\"\xff\"}", iv1), "plaintext is not UTF-8; MAC valid", "bad-utf8")
negative("neg_schema_valid_mac", server, "server", "to-server",
         seal(server, "server", "to-server", js(dict(ban, file="../etc/passwd")), iv1),
         "file name with a path; MAC valid", "schema")
negative("neg_unknown_cmd_valid_mac", server, "server", "to-server",
         seal(server, "server", "to-server", js(dict(ban, cmd="shell")), iv1), "unknown cmd; MAC valid", "schema")
negative("neg_result_to_server", server, "server", "to-server",
         seal(server, "server", "to-server", js(dict(result, client="server")), iv1),
         "a result sent as a request; MAC valid", "wrong-command")
negative("neg_result_for_other_client", client1, "client1", "from-agent",
         seal(client1, "client1", "from-agent", js(dict(result, client="client2")), iv1),
         "client1 speaks for client2; MAC valid", "wrong-key-id")
negative("neg_exec_from_agent", client1, "client1", "from-agent",
         seal(client1, "client1", "from-agent", js(ban), iv1), "an exec sent back by an agent; MAC valid", "wrong-command")

out = {"source": "Generated by test/generate/v2.py (independent Python implementation of the v2 format in "
                 "docs/protocol.md: hashlib, hmac, cryptography).", "vectors": vectors}
with open(__file__.rsplit("/", 2)[0] + "/vectors/v2.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
