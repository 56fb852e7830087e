// One vitest run for the whole workspace; packages resolve to their sources via @net2ban/source.
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    conditions: ["@net2ban/source", "module", "node", "import", "default"],
  },
  ssr: {
    resolve: {
      conditions: ["@net2ban/source", "module", "node", "import", "default"],
    },
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
