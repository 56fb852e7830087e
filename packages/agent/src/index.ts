// @net2ban/agent: the agent as a library (tests, embedding) and its command line.
export { type AgentOptions, Net2banAgent } from "./agent.js";
export { agentName, helpText, pickActionsDir, run } from "./cli.js";
export {
  formatRecord,
  Journal,
  JournalClosedError,
  type JournalEntry,
  type JournalLogger,
  JournalOpenError,
  type JournalOptions,
  JournalWriteError,
  parseRecord,
} from "./journal.js";
export {
  actionFileName,
  decodeActionContent,
  MAX_ACTION_FILE_BYTES,
  UpdateRefusedError,
  writeActionFile,
} from "./update.js";
