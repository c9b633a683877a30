// Tests that run inside the Workers runtime (workerd), against the Worker and
// Durable Object that wrangler.jsonc describes. `npm run build` must have made pkg/.
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.jsonc" } })],
  test: {
    include: ["test/worker/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
