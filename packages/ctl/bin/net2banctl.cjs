#!/usr/bin/env node
"use strict";
// net2banctl: runs the bundled CLI (dist/net2banctl.cjs, made by `pnpm build`); start-up time is most of
// what a ban costs the host that sends it. NET2BAN_CTL_NO_CODE_CACHE=1 compiles without the code cache.
const { loadBundle } = require("./load-bundle.cjs");

const { exports: cli } = loadBundle({ useCache: process.env.NET2BAN_CTL_NO_CODE_CACHE !== "1" });
// Exit as soon as the command is done: its work is confirmed or failed by then, and a connection that a
// refused request started (see startPublisher) must not keep the process up until its timeout.
// (stdout and stderr are synchronous for files, pipes and terminals on Linux: nothing is cut off.)
cli.run(process.argv.slice(2)).then((code) => process.exit(code));
