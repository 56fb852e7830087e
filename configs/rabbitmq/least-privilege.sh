#!/bin/sh
# net2ban least privilege: vhost net2ban, one login per role. Run as root on a RabbitMQ node.
# It holds passwords: keep it private (net2banctl rabbitmq-setup --output FILE writes mode 0600;
# with > FILE, run umask 077 first) and delete it once it has run.
# Passwords go through stdin (printf is a shell builtin), so they never show in a process list.
set -eu
existing=$(rabbitmqctl -q list_users | cut -f1)
n2b_login() {
  if printf '%s\n' "$existing" | grep -qxF -- "$1"; then
    printf '%s' "$2" | rabbitmqctl change_password "$1"
  else
    printf '%s' "$2" | rabbitmqctl add_user "$1"
  fi
}
rabbitmqctl add_vhost net2ban
# queue bounds: work queues refuse publishes when full (nothing dropped), .dead queues drop the oldest
rabbitmqctl set_policy -p net2ban --priority 10 --apply-to queues net2ban-queues '^(input_net2ban|net2ban_results|net2ban_.*)$' '{"max-length":1000000,"max-length-bytes":1073741824,"overflow":"reject-publish"}'
rabbitmqctl set_policy -p net2ban --priority 11 --apply-to queues net2ban-dead '^(input_net2ban|net2ban_results|net2ban_.*)\.dead$' '{"max-length":10000,"max-length-bytes":67108864,"overflow":"drop-head"}'
# server
n2b_login net2ban-server CHANGE-ME-server
rabbitmqctl set_permissions -p net2ban net2ban-server '^(input_net2ban|input_net2ban\.dead|net2ban_.*|net2ban\.input|net2ban\.dead)$' '^(amq\.default|input_net2ban|input_net2ban\.dead|net2ban_.*|net2ban\.dead)$' '^(input_net2ban|net2ban_.*|net2ban\.input|net2ban\.dead)$'
# ctl
n2b_login net2ban-ctl CHANGE-ME-ctl
rabbitmqctl set_permissions -p net2ban net2ban-ctl '^net2ban_reply\.[0-9a-f-]{36}$' '^net2ban\.input$' '^net2ban_reply\.[0-9a-f-]{36}$'
# agent client1
n2b_login net2ban-client1 CHANGE-ME-client1
rabbitmqctl set_permissions -p net2ban net2ban-client1 '^(net2ban_client1|net2ban_client1\.dead)$' '^net2ban\.dead$' '^net2ban_client1$'
rabbitmqctl set_topic_permissions -p net2ban net2ban-client1 net2ban.dead '^(net2ban_client1\.dead|net2ban_results)$' '^$'
# agent client2
n2b_login net2ban-client2 CHANGE-ME-client2
rabbitmqctl set_permissions -p net2ban net2ban-client2 '^(net2ban_client2|net2ban_client2\.dead)$' '^net2ban\.dead$' '^net2ban_client2$'
rabbitmqctl set_topic_permissions -p net2ban net2ban-client2 net2ban.dead '^(net2ban_client2\.dead|net2ban_results)$' '^$'

# Then add to net2ban.cfg (see README.md) and restart the server, then each agent:
#   [global]
#   ctl_url = amqp://net2ban-ctl:CHANGE-ME-ctl@mq.example.net:5672/net2ban
#   input_exchange = net2ban.input
#   dead_letter_exchange = net2ban.dead
#   [server]
#   url = amqp://net2ban-server:CHANGE-ME-server@mq.example.net:5672/net2ban
#   [client1]
#   url = amqp://net2ban-client1:CHANGE-ME-client1@mq.example.net:5672/net2ban
#   [client2]
#   url = amqp://net2ban-client2:CHANGE-ME-client2@mq.example.net:5672/net2ban
