// @net2ban/ledger: net2ban's ban state on disk (the server's ledger, the log format agents share) and digests.
export {
  AppendLog,
  type AppendLogOptions,
  formatLine,
  jsonLines,
  type LineCodec,
  parseLine,
  StateClosedError,
  type StateLogger,
  StateOpenError,
  StateWriteError,
} from "./append-log.js";
export { type BanDigest, type BanIdentity, banKey, digestOf, parseBanKey } from "./digest.js";
export {
  type BanChange,
  type BanInput,
  type HostStatus,
  Ledger,
  type LedgerBan,
  type LedgerOptions,
} from "./ledger.js";
