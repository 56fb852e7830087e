// net2banctl: send bans, manage clients and render actions for net2ban
export {};
