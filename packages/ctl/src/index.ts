// @net2ban/ctl: net2banctl as a library (in-process runs for tests and tools) and its commands.
export { type CliIo, run } from "./cli.js";
export { genRandom, parseParams, prepareUpdate, publishRequest } from "./commands.js";
