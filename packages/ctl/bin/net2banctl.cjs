#!/usr/bin/env node
// net2banctl: runs the bundled CLI (dist/net2banctl.cjs, made by `pnpm build`); start-up time is most of
// what a ban costs the host that sends it. NET2BAN_CTL_NO_CODE_CACHE=1 compiles without the code cache.
import { loadBundle } from "./load-bundle.js";

const { exports } = loadBundle({ useCache: process.env.NET2BAN_CTL_NO_CODE_CACHE !== "1" });
process.exitCode = await exports.run(process.argv.slice(2));
