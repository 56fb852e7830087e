// The failover scenario of packages/fleet/src/cluster.int.test.ts with classic queues, measured (not
// asserted): what an operator loses without quorum queues. Needs root, rabbitmq-server and `pnpm build`.
//
//   node scripts/cluster-classic.mjs [--bans 3000] [--seed 9] [--rate 20] [--quorum] [--json]
//
// --quorum runs the quorum scenario after it on the same settings, for a side-by-side comparison.
// Its private nodes take free ports, so it can run beside the test suite.
import { parseArgs } from "node:util";
import { formatReport, runFailoverScenario } from "../packages/fleet/dist/cluster.js";

const { values } = parseArgs({
  options: {
    bans: { type: "string", default: "3000" },
    seed: { type: "string", default: "9" },
    rate: { type: "string", default: "20" },
    quorum: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const common = {
  bans: Number(values.bans),
  seed: Number(values.seed),
  ratePerSecond: Number(values.rate),
  log: (line) => console.error(`[cluster-classic] ${line}`),
};
for (const [name, n] of Object.entries({
  bans: common.bans,
  seed: common.seed,
  rate: common.ratePerSecond,
})) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`cluster-classic: --${name} expected a positive integer`);
    process.exit(2);
  }
}

const reports = [];
try {
  for (const queueType of values.quorum ? ["classic", "quorum"] : ["classic"]) {
    const report = await runFailoverScenario({ ...common, queueType });
    reports.push(report);
    if (!values.json) console.log(formatReport(report));
  }
} catch (error) {
  console.error(`cluster-classic: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
if (values.json) console.log(JSON.stringify(reports, null, 2));
