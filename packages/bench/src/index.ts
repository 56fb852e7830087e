// @net2ban/bench (private): the benchmark suite behind `pnpm bench`, and its report helpers.
export { renderCdfSvg } from "./chart.js";
export { main, SUITES } from "./main.js";
export { renderFigureTable, renderResultsBlock, spliceResultsBlock } from "./report.js";
export type { BenchRun, Figure, LatencyRow } from "./results.js";
export { formatNumber, median, percentile, summarize } from "./stats.js";
