// @net2ban/fleet (private): a throwaway fleet of real net2ban processes for the demo, tests and benchmarks.
export {
  type CommandResult,
  demoActionFile,
  Fleet,
  type FleetOptions,
  type FleetProcess,
  type LogLine,
  probeBroker,
} from "./fleet.js";
