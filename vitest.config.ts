// Tests that run inside the Workers runtime (workerd), against the Worker and
// Durable Object that wrangler.jsonc describes. `npm run build` must have made pkg/.
//
// Two projects, one Worker each: `worker` runs with the defaults (no vars
// set), `configured` with every variable of the configuration table set, as
// `wrangler.jsonc` vars or secrets would set them.
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const wrangler = { configPath: "./wrangler.jsonc" };

/** The `configured` project's variables; test/configured/config.ts reads them too. */
export const CONFIGURED = {
  AUTH_SECRET: "test-only secret, 32 bytes or more, never deployed",
  ALLOWED_ORIGINS: "https://app.example, http://localhost:8787",
  // A number, as a wrangler `vars` entry may be.
  MAX_CONNECTIONS_PER_ROOM: 3,
  MAX_MESSAGE_BYTES: "1024",
  MAX_TEXT_CHARS: "100",
  RATE_LIMIT_PER_SECOND: "1",
  RATE_LIMIT_BURST: "5",
};

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
    ],
  },
});
