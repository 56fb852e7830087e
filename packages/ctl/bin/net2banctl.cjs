#!/usr/bin/env node
"use strict";
// net2banctl: runs the bundled CLI (dist/net2banctl.cjs, made by `pnpm build`); start-up time is most of
// what a ban costs the host that sends it. NET2BAN_CTL_NO_CODE_CACHE=1 compiles without the code cache.
const { loadBundle } = require("./load-bundle.cjs");

const { exports: cli } = loadBundle({ useCache: process.env.NET2BAN_CTL_NO_CODE_CACHE !== "1" });
cli.run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
