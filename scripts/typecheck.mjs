// `npm run typecheck` (part of `npm test` and `npm run lint`): `tsc` on each
// TypeScript project, all of them even when one fails, so that a Rust variant
// not yet handled shows every switch that lacks it at once (the shim and the
// client in the root project, the page in web/), not one project per run. An
// error in a file that several projects include is printed once.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const PROJECTS = [".", "test/e2e", "web"];

const failed = [];
const lines = new Set();
for (const project of PROJECTS) {
  const tsc = spawnSync(
    join(root, "node_modules/.bin/tsc"),
    ["--noEmit", "--pretty", "false", "-p", project],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  if (tsc.error) throw tsc.error;
  if (tsc.status !== 0) failed.push(project);
  for (const line of `${tsc.stdout}${tsc.stderr}`.split("\n")) if (line.trim()) lines.add(line);
}
for (const line of lines) console.error(line);
if (failed.length > 0) {
  console.error(`[typecheck] tsc failed in: ${failed.join(", ")}`);
  process.exit(1);
}
