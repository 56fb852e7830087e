// @net2ban/server: the server as a library (tests, embedding) and its command line.
export { helpText, run } from "./cli.js";
export { Net2banServer, ServerConfigError, type ServerOptions } from "./server.js";
/** The ban state (ledger, replies, expiry) a server runs with, for embedding and tests. */
export { ServerState, type ServerStateOptions } from "./state.js";
