// net2ban server: authenticates bans from the input queue and fans them out to every agent
export {};
