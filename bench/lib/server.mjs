// The processes of `npm run bench`: a variant's `wrangler dev` on 127.0.0.1 in
// its own process group with a private dev registry, the pass-through fronts of
// workload 4 (bench/front/) that reach it through that registry, and the bundle
// `wrangler deploy --dry-run` would upload. The descriptor guard that watches
// them is bench/descriptors.mjs (test/e2e shares its descriptor count).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import { connect, sleep } from "./client.mjs";

export const root = new URL("../..", import.meta.url).pathname;
const wrangler = join(root, "node_modules/.bin/wrangler");

/** Limits high enough that no workload is refused; every variant gets them as `vars`. */
export const BENCH_VARS = {
  MAX_CONNECTIONS_PER_ROOM: "32768",
  // One object per room (workload 10 sets its own caps to span objects).
  MAX_CONNECTIONS_PER_OBJECT: "32768",
  RATE_LIMIT_PER_SECOND: "1000000",
  RATE_LIMIT_BURST: "1000000",
};

/**
 * Writes `dir`/wrangler.json from a variant's wrangler.jsonc: full-line
 * comments dropped, `main` and `assets.directory` made relative to `dir`, no
 * `build` step (A is built once before the rounds, so cold starts compare like
 * with like) and BENCH_VARS, then `vars`, as `vars` (B and C read none).
 * Returns its path.
 */
export function prepareConfig(source, dir, vars = {}) {
  const text = readFileSync(source, "utf8")
    .split("\n")
    .filter((line) => !line.trim().startsWith("//"))
    .join("\n");
  const config = JSON.parse(text);
  delete config.build;
  delete config.$schema;
  const moved = (path) => relative(dir, join(source, "..", path));
  config.main = moved(config.main);
  if (config.assets?.directory) config.assets.directory = moved(config.assets.directory);
  config.vars = { ...config.vars, ...BENCH_VARS, ...vars };
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "wrangler.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/**
 * The environment of every `wrangler dev` the bench starts. wrangler reads the
 * first registry variable, miniflare the second (which wins). The local
 * observability collector (a tail Worker in the same workerd that writes every
 * event to SQLite: ~120 µs of the isolate's CPU per frame, more than either
 * variant's own code) and the local explorer are dev tooling, not in
 * production: off for every variant alike.
 */
const registryEnv = (registry) => ({
  WRANGLER_REGISTRY_PATH: registry,
  CLOUDFLARE_DEV_REGISTRY_PATH: registry,
  X_LOCAL_OBSERVABILITY: "false",
  X_LOCAL_EXPLORER: "false",
});

/**
 * Starts `wrangler dev --config config` on 127.0.0.1:`port`, its descriptor
 * limit raised as far as the shell may (workload 4), its storage in a temp
 * directory and its dev registry a private one (`registry`), where the fronts
 * find it and no other `wrangler dev` on the machine does. `firstReply()`
 * resolves with the ms from the spawn to the first reply on `/websocket`
 * (workload 6; it also tells that the server is up).
 */
export function startServer(config, { port, inspector }) {
  const persist = mkdtempSync(join(tmpdir(), "bench-"));
  const registry = mkdtempSync(join(tmpdir(), "bench-registry-"));
  const command = [
    "ulimit -n $(ulimit -Hn) 2>/dev/null; exec",
    JSON.stringify(wrangler),
    `dev --config ${JSON.stringify(config)}`,
    `--ip 127.0.0.1 --port ${port} --inspector-port ${inspector}`,
    `--persist-to ${JSON.stringify(persist)}`,
    "--show-interactive-dev-session=false --log-level warn",
  ].join(" ");
  const started = performance.now();
  const child = spawn("bash", ["-c", command], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...registryEnv(registry), CI: "1" },
  });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  async function firstReply() {
    while (performance.now() - started < 120_000) {
      if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
      try {
        const ws = await connect(`ws://127.0.0.1:${port}/websocket`, 2_000);
        await new Promise((resolve, reject) => {
          ws.once("message", resolve);
          ws.once("close", () => reject(new Error("closed")));
          ws.send("cold");
        });
        ws.terminate();
        return performance.now() - started;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`wrangler dev gave no reply in 120 s:\n${output}`);
  }
  const stop = async () => {
    await stopGroup(child);
    rmSync(persist, { recursive: true, force: true });
    rmSync(registry, { recursive: true, force: true });
    await sleep(500); // let the ports go
  };
  return { child, registry, firstReply, stop, output: () => output };
}

/** Ends a detached child's process group: SIGTERM, SIGKILL after 5 s. */
async function stopGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Workload 4's fronts: `count` processes of bench/front/serve.mjs, each a
 * pass-through Worker whose service binding reaches `target` (the variant's
 * Worker name) through the private `registry`. Resolves once each forwards a
 * request to the variant, with `{urls: [{pid, ws}], stop()}`: `ws` is a
 * front's runtime, not its dev proxy (4 descriptors per socket there).
 */
export async function startFronts(count, target, registry) {
  const children = [];
  const stop = () => Promise.all(children.map(stopGroup));
  const start = async (i) => {
    const script = join(root, "bench/front/serve.mjs");
    const child = spawn(
      process.execPath,
      [script, "--target", target, "--registry", registry, "--name", `bench-front-${i + 1}`],
      {
        cwd: root,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...registryEnv(registry), CI: "1" },
      },
    );
    children.push(child);
    let output = "";
    child.stderr.on("data", (chunk) => {
      output = (output + chunk).slice(-4_000);
    });
    const direct = await new Promise((resolve, reject) => {
      let text = "";
      const fail = (why) => reject(new Error(`front ${i + 1}: ${why}:\n${output}`));
      const timer = setTimeout(() => fail("not ready in 120 s"), 120_000);
      child.stdout.on("data", (chunk) => {
        text += chunk;
        const ready = text.split("\n").find((line) => line.startsWith('{"proxy"'));
        if (!ready) return;
        clearTimeout(timer);
        resolve(JSON.parse(ready).direct);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(`exited with ${code}`);
      });
    });
    // The registry may take a moment to show the variant to a new front.
    const until = performance.now() + 30_000;
    for (;;) {
      try {
        const response = await fetch(`${direct}/rooms/fronts-ready`);
        await response.arrayBuffer();
        if (response.ok) break;
      } catch {
        // not yet
      }
      if (performance.now() > until) throw new Error(`front ${i + 1} does not reach ${target}`);
      await sleep(250);
    }
    return { pid: child.pid, ws: direct.replace(/^http/, "ws") };
  };
  try {
    return { urls: await Promise.all(Array.from({ length: count }, (_, i) => start(i))), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Raw and gzip bytes of what `wrangler deploy --dry-run --config config` would upload. */
export function bundleSize(config, dist) {
  rmSync(dist, { recursive: true, force: true });
  execFileSync(wrangler, ["deploy", "--dry-run", "--config", config, "--outdir", dist], {
    cwd: root,
    stdio: "ignore",
  });
  let raw = 0;
  let gzip = 0;
  for (const name of readdirSync(dist).filter((file) => !file.endsWith(".map"))) {
    const bytes = readFileSync(join(dist, name));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  return { raw, gzip };
}
