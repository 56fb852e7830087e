// pnpm bench: the benchmark suite of packages/bench against the local RabbitMQ (see docs/benchmarks.md).
import { main } from "../packages/bench/dist/main.js";

process.exitCode = await main(process.argv.slice(2));
