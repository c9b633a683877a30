// `npm run build`: the Rust core → pkg/ (wasm + JS glue + .d.ts), release, wasm-opt on.
// `npm run build -- --test-hooks`: the same with the test-only hooks (see Cargo.toml).
// Both also bundle the demo page's script, web/demo.ts → public/demo.js.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { buildSync } from "esbuild";
import { ensureToolchain } from "./toolchain.mjs";

const root = new URL("..", import.meta.url).pathname;

const testHooks = process.argv.includes("--test-hooks");

ensureToolchain();
execFileSync(
  "wasm-pack",
  [
    "build",
    "--release",
    "--target",
    "web",
    "--out-dir",
    "pkg",
    "--out-name",
    "core",
    "--no-pack",
    ...(testHooks ? ["--", "--features", "test-hooks"] : []),
  ],
  { cwd: root, stdio: "inherit" },
);
// What this pkg/ was built with, for `npm run bundle` to check.
writeFileSync(`${root}pkg/build.json`, `${JSON.stringify({ testHooks })}\n`);
const wasm = `${root}pkg/core_bg.wasm`;
const raw = statSync(wasm).size;
const gz = gzipSync(readFileSync(wasm), { level: 9 }).length;
console.error(
  `[build] pkg/core_bg.wasm${testHooks ? " (with test hooks)" : ""}: ${(raw / 1024).toFixed(1)} KiB raw, ${(gz / 1024).toFixed(1)} KiB gzip`,
);

// The page needs no framework and no build of its own: one ES module for the
// browser, with js/client.ts inlined (it imports only types from pkg/).
buildSync({
  entryPoints: [`${root}web/demo.ts`],
  outfile: `${root}public/demo.js`,
  bundle: true,
  format: "esm",
  target: "es2022",
  // Unminified and without a map: "view source" on the page reads as the TS does.
  logLevel: "warning",
});
console.error(
  `[build] public/demo.js: ${(statSync(`${root}public/demo.js`).size / 1024).toFixed(1)} KiB`,
);
