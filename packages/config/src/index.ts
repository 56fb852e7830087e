// net2ban.cfg reader (Python ConfigParser semantics), per-section resolver and client export
export {};
