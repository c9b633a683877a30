// `npm run build`: the Rust core → pkg/ (wasm + JS glue + .d.ts), release, wasm-opt on.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { ensureToolchain } from "./toolchain.mjs";

const root = new URL("..", import.meta.url).pathname;

ensureToolchain();
execFileSync(
  "wasm-pack",
  ["build", "--release", "--target", "web", "--out-dir", "pkg", "--out-name", "core", "--no-pack"],
  { cwd: root, stdio: "inherit" },
);
const wasm = `${root}pkg/core_bg.wasm`;
const raw = statSync(wasm).size;
const gz = gzipSync(readFileSync(wasm), { level: 9 }).length;
console.error(
  `[build] pkg/core_bg.wasm: ${(raw / 1024).toFixed(1)} KiB raw, ${(gz / 1024).toFixed(1)} KiB gzip`,
);
