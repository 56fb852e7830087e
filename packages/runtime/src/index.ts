// Shared wiring of the net2ban daemons.
export {};
