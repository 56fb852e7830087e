// fail2ban-compatible action files for net2ban: read, render and run safely
export {};
