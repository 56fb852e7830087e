// net2ban agent: runs fail2ban-compatible actions for the bans it receives
export {};
