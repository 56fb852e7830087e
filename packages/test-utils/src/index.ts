// Test fixtures for net2ban: broker, namespaces, temp dirs
export {};
