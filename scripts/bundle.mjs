// `npm run bundle`: builds what `wrangler deploy` would upload, offline
// (`wrangler deploy --dry-run`), checks it holds the Worker and the wasm, and
// prints their sizes.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "dist");
rmSync(out, { recursive: true, force: true });
execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", out], { cwd: root, stdio: "inherit" });

const files = readdirSync(out).filter((name) => !name.endsWith(".map"));
const sizes = files.map((name) => {
  const bytes = readFileSync(join(out, name));
  return { name, raw: statSync(join(out, name)).size, gzip: gzipSync(bytes, { level: 9 }).length };
});
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
for (const { name, raw, gzip } of sizes) {
  console.log(
    `[bundle] ${name.padEnd(48)} ${kib(raw).padStart(10)} raw ${kib(gzip).padStart(10)} gzip`,
  );
}
const total = sizes.reduce(
  (sum, file) => ({ raw: sum.raw + file.raw, gzip: sum.gzip + file.gzip }),
  { raw: 0, gzip: 0 },
);
console.log(`[bundle] total ${kib(total.raw)} raw, ${kib(total.gzip)} gzip`);
// `wrangler deploy` runs `npm run build` first; pkg/build.json says how it built.
const built = JSON.parse(readFileSync(join(root, "pkg", "build.json"), "utf8"));
if (built.testHooks !== false) {
  console.error(
    "[bundle] the deployable wasm was built with the test-only hooks: build without --test-hooks",
  );
  process.exit(1);
}
if (!files.includes("index.js") || !files.some((name) => name.endsWith(".wasm"))) {
  console.error(
    `[bundle] expected index.js and a .wasm module in ${out}, found: ${files.join(", ")}`,
  );
  process.exit(1);
}
