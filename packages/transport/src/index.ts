// RabbitMQ transport for net2ban: connection recovery, confirmed publishes, acked consumers
export {};
