// net2ban.cfg reader (Python ConfigParser semantics), per-section resolver and client export
export {
  type AddressRange,
  Allowlist,
  type AllowlistEntry,
  assertBanAllowed,
  type BanLike,
  type BanRefusal,
  BanRefusedError,
  brokerHosts,
  checkBan,
  isUnban,
  LOOPBACK,
  localInterfaceAddresses,
  type ProtectedAddressesOptions,
  parseAddressRange,
  protectedAddresses,
  rangesOverlap,
  splitIgnoreIp,
} from "./allowlist.js";
export {
  DurationError,
  formatDuration,
  MAX_DURATION_SECONDS,
  parseDurationSeconds,
} from "./duration.js";
export { ConfigError } from "./errors.js";
export { exportClientConfig } from "./export.js";
export {
  DEFAULT_MAX_INTERPOLATION_DEPTH,
  INI_FLAVORS,
  type IniDocument,
  type IniEntry,
  type IniFlavor,
  type IniOptions,
  type IniProblem,
  type IniSection,
  IniSyntaxError,
  InterpolationDepthError,
  InterpolationError,
  InterpolationMissingOptionError,
  type InterpolationSite,
  InterpolationSyntaxError,
  interpolate,
  parseIni,
  serializeIni,
} from "./ini.js";
export {
  DEFAULT_CONFIG_PATHS,
  type FindConfigOptions,
  findConfigPath,
  type LoadConfigOptions,
  loadConfig,
} from "./load.js";
export {
  allowlistFor,
  type BrokerConfig,
  clientConfig,
  listClients,
  metricsFor,
  type Net2banConfig,
  type ParsedConfig,
  type PeerConfig,
  parseConfig,
  type StateConfig,
} from "./resolve.js";
export {
  CONFIG_KEYS,
  type ConfigKey,
  DEFAULT_ACTIONS_DIRS,
  type KeySpec,
  LOG_LEVELS,
  type LogLevel,
  type MetricsAddress,
  PEER_KEYS,
  redactUrl,
  type SectionKind,
} from "./schema.js";
