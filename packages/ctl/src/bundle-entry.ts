// What esbuild bundles into dist/net2banctl.cjs for bin/net2banctl.cjs: the one-shot settings, then the CLI.
import "./one-shot.js";

export { run } from "./main.js";
