// Tests that run inside the Workers runtime (workerd), against the Worker and
// Durable Object that wrangler.jsonc describes. `npm run build` must have made pkg/.
//
// Five projects, one Worker each: `worker` runs with the defaults (no vars
// set), `configured` with every variable of the configuration table set, as
// `wrangler.jsonc` vars or secrets would set them, `large` with the largest
// frames the configuration allows, `history-off` with HISTORY_LIMIT=0
// (rooms without history), and `sharded` with rooms larger than one object
// (10 members on objects of 3).
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { CONFIGURED } from "./test/configured/vars";
import { LARGE } from "./test/large/vars";
import { SHARDED } from "./test/sharded/vars";

const wrangler = { configPath: "./wrangler.jsonc" };

export default defineConfig({
  test: {
    testTimeout: 20_000,
    projects: [
      {
        plugins: [cloudflareTest({ wrangler })],
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], testTimeout: 20_000 },
      },
      {
        plugins: [cloudflareTest({ wrangler, miniflare: { bindings: CONFIGURED } })],
        test: {
          name: "configured",
          include: ["test/configured/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        plugins: [cloudflareTest({ wrangler, miniflare: { bindings: LARGE } })],
        test: { name: "large", include: ["test/large/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        plugins: [cloudflareTest({ wrangler, miniflare: { bindings: { HISTORY_LIMIT: "0" } } })],
        test: {
          name: "history-off",
          include: ["test/history-off/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        plugins: [cloudflareTest({ wrangler, miniflare: { bindings: SHARDED } })],
        test: { name: "sharded", include: ["test/sharded/**/*.test.ts"], testTimeout: 30_000 },
      },
    ],
  },
});
