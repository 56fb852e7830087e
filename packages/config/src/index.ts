// net2ban.cfg reader (Python ConfigParser semantics), per-section resolver and client export
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
  type BrokerConfig,
  clientConfig,
  listClients,
  type Net2banConfig,
  type ParsedConfig,
  type PeerConfig,
  parseConfig,
} from "./resolve.js";
export {
  CONFIG_KEYS,
  type ConfigKey,
  DEFAULT_ACTIONS_DIRS,
  type KeySpec,
  LOG_LEVELS,
  type LogLevel,
  PEER_KEYS,
  redactUrl,
  type SectionKind,
} from "./schema.js";
