#!/usr/bin/env bash
# Prepares a Debian host for net2ban's tests and demo: system packages and a RabbitMQ that answers.
# Idempotent; needs root for apt and for starting RabbitMQ.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
# fail2ban is the reference renderer in tests; iptables/nftables/ipset/iproute2 build the test hosts;
# systemd gives systemd-analyze (unit checks); python3-seccomp acts out RestrictAddressFamilies= in the
# unit sandbox tests; rabbitmq-server gives rabbitmqctl and private nodes.
packages=(fail2ban iptables nftables ipset iproute2 python3 python3-seccomp systemd rabbitmq-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  # Keep package scripts from starting services (fail2ban would otherwise start its sshd jail).
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  [ $had_policy -eq 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $had_policy -eq 1 ] || rm -f "$policy"
fi

broker_up() { node -e 'const s=require("net").connect(5672,"127.0.0.1");s.on("connect",()=>process.exit(0));s.on("error",()=>process.exit(1))'; }
if ! broker_up; then
  echo "setup-host: RabbitMQ is not answering on 127.0.0.1:5672, starting it"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do broker_up && break; sleep 1; done
  broker_up || { echo "setup-host: RabbitMQ did not come up on 127.0.0.1:5672" >&2; exit 1; }
fi
echo "setup-host: ready"
