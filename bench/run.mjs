// `npm run bench [-- --quick] [-- --rounds N]`: builds the project (no test
// hooks), then serves each variant with `wrangler dev` on 127.0.0.1, one at a
// time, in alternating rounds A B C A B C …, runs the workloads against it with
// bench/client.mjs, and rewrites bench/RESULTS.md and bench/chart.svg.
// The "Findings" and "History" sections of RESULTS.md are kept across runs.
// Never part of `npm test`.
//
// Subsets, for development: BENCH_ONLY=w1,w4,… (w1–w7, boundary) runs only
// those workloads, BENCH_VARIANTS=BC only those variants; a subset writes
// bench/out/RESULTS-partial.md and leaves bench/RESULTS.md alone.
// BENCH_W4_FRONTS=N (default 2) spreads workload 4 over N pass-through front
// Workers (bench/front/); 0 connects to the variant's `wrangler dev` directly.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import { BENCH_VARS, boundary } from "./boundary.mjs";
import { connect, fanout, pingPong, ramp, roomBroadcast, sleep, wake } from "./client.mjs";
import { descriptorGuard } from "./descriptors.mjs";
import { registryEnv, startServer, stopGroup, wrangler } from "./server.mjs";

const root = new URL("..", import.meta.url).pathname;
const bench = join(root, "bench");
const out = join(bench, "out");
const PORT = 8810;
const INSPECTOR = 9310;
const HTTP = `http://127.0.0.1:${PORT}`;
const WS = `ws://127.0.0.1:${PORT}`;

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const roundsArg = args.indexOf("--rounds");
/** Workload 5's wake samples per round (BENCH_WAKE_SAMPLES), ~0.3 s each. */
const wakeRooms = (fallback) => Number(process.env.BENCH_WAKE_SAMPLES ?? fallback);
const settings = quick
  ? {
      rounds: 1,
      w1: { clients: 16, frames: 100, capMs: 15_000 },
      w2: { clients: 8, frames: 20, capMs: 15_000 },
      w3: { count: 200, repeats: 3, capMs: 30_000 },
      w4: { target: 2_000, capMs: 20_000 },
      w5: { warm: 20, idleMs: 12_000, rooms: wakeRooms(1) },
    }
  : {
      rounds: 3,
      w1: { clients: 32, frames: 300, capMs: 30_000 },
      w2: { clients: 16, frames: 50, capMs: 30_000 },
      w3: { count: 1_000, repeats: 5, capMs: 75_000 },
      w4: { target: 10_000, capMs: 90_000 },
      w5: { warm: 30, idleMs: 12_000, rooms: wakeRooms(5) },
    };
if (roundsArg >= 0) settings.rounds = Number(args[roundsArg + 1]);

const VARIANTS = {
  A: { label: "A: this project", config: join(root, "wrangler.jsonc") },
  B: { label: "B: TS reference", config: join(bench, "ts-reference/wrangler.jsonc") },
  C: { label: "C: raw echo", config: join(bench, "raw-echo/wrangler.jsonc") },
};

const WORKLOADS = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "boundary"];
const listed = (name, all, split) => {
  const value = process.env[name]?.trim();
  if (!value) return all;
  const picked = split(value);
  const unknown = picked.filter((x) => !all.includes(x));
  if (unknown.length > 0 || picked.length === 0) {
    throw new Error(`${name}=${value}: expected some of ${all.join(", ")}`);
  }
  return all.filter((x) => picked.includes(x));
};
const only = new Set(
  listed("BENCH_ONLY", WORKLOADS, (v) => v.split(",").map((x) => x.trim().toLowerCase())),
);
const variantKeys = listed("BENCH_VARIANTS", Object.keys(VARIANTS), (v) =>
  v
    .toUpperCase()
    .replace(/[^A-Z]/g, "")
    .split(""),
);
/** A subset run writes bench/out/RESULTS-partial.md, never bench/RESULTS.md. */
const partial = only.size < WORKLOADS.length || variantKeys.length < Object.keys(VARIANTS).length;
const fronts = Number(process.env.BENCH_W4_FRONTS ?? 2);
if (!Number.isInteger(fronts) || fronts < 0 || fronts > 16) {
  throw new Error(`BENCH_W4_FRONTS=${process.env.BENCH_W4_FRONTS}: expected 0–16`);
}
settings.w4.fronts = fronts;

const log = (...parts) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);

/**
 * Writes bench/out/<v>/wrangler.json from a variant's wrangler.jsonc: full-line
 * comments dropped, `main` and `assets.directory` made relative to the new
 * place, no `build` step (A is built once before the rounds, so cold starts
 * compare like with like), and the bench's limits (BENCH_VARS) as `vars`, so A
 * neither caps the room nor rate-limits the workloads (B and C read no vars).
 */
function prepareConfig(key) {
  const source = VARIANTS[key].config;
  const text = readFileSync(source, "utf8")
    .split("\n")
    .filter((line) => !line.trim().startsWith("//"))
    .join("\n");
  const config = JSON.parse(text);
  delete config.build;
  delete config.$schema;
  const dir = join(out, key.toLowerCase());
  mkdirSync(dir, { recursive: true });
  const moved = (path) => relative(dir, join(source, "..", path));
  config.main = moved(config.main);
  if (config.assets?.directory) config.assets.directory = moved(config.assets.directory);
  config.vars = { ...config.vars, ...BENCH_VARS };
  const path = join(dir, "wrangler.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/**
 * Starts `wrangler dev` for a variant's config. Its dev registry is a private
 * directory (`server.registry`), where the fronts of workload 4 find it and no
 * other `wrangler dev` on the machine does; its descriptor limit is raised as
 * far as the shell may (workload 4).
 */
const serve = (config) =>
  startServer(config, { port: PORT, inspector: INSPECTOR, registry: true, raiseLimit: true });

/**
 * Workload 4's fronts: `count` processes of bench/front/serve.mjs, each a
 * pass-through Worker whose service binding reaches `target` (the variant's
 * Worker name) through the private registry. Resolves once each forwards a
 * request to the variant, with their runtimes' URLs and a stop function.
 */
async function startFronts(count, target, registry) {
  const children = [];
  const stop = async () => {
    await Promise.all(children.map(stopGroup));
  };
  try {
    const urls = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const child = spawn(
          process.execPath,
          [
            join(bench, "front/serve.mjs"),
            "--target",
            target,
            "--registry",
            registry,
            "--name",
            `bench-front-${i + 1}`,
          ],
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
          let line = "";
          const timer = setTimeout(
            () => reject(new Error(`front ${i + 1}: not ready in 120 s`)),
            120_000,
          );
          child.stdout.on("data", (chunk) => {
            line += chunk;
            const ready = line.split("\n").find((l) => l.startsWith('{"proxy"'));
            if (!ready) return;
            clearTimeout(timer);
            resolve(JSON.parse(ready).direct);
          });
          child.once("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`front ${i + 1} exited with ${code}:\n${output}`));
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
          if (performance.now() > until) {
            throw new Error(`front ${i + 1} does not reach ${target}:\n${output}`);
          }
          await sleep(250);
        }
        return { pid: child.pid, ws: direct.replace(/^http/, "ws") };
      }),
    );
    return { urls, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Workload 6: ms from spawning `wrangler dev` to the first reply on `/websocket`. */
async function coldStart(server) {
  const start = performance.now();
  while (performance.now() - start < 120_000) {
    if (server.child.exitCode !== null) throw new Error(`wrangler dev exited:\n${server.output()}`);
    try {
      const ws = await connect(`${WS}/websocket`, 2_000);
      await new Promise((resolve, reject) => {
        ws.once("message", resolve);
        ws.once("close", () => reject(new Error("closed")));
        ws.send("cold");
      });
      const ms = performance.now() - start;
      ws.terminate();
      return ms;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`wrangler dev gave no reply in 120 s:\n${server.output()}`);
}

/** One variant, one round: every selected workload against a fresh `wrangler dev`. */
async function runVariant(key, config) {
  const server = serve(config);
  const result = {};
  try {
    // The first reply also tells the server is up, so it runs even if w6 is not selected.
    const coldMs = await coldStart(server);
    if (only.has("w6")) {
      result.w6 = { coldMs };
      log(key, "cold start", coldMs.toFixed(0), "ms");
    }
    await sleep(500);
    // Workload 5's object idles (and is evicted) while workloads 1 and 2 load others.
    const waking = only.has("w5")
      ? await wake(WS, HTTP, {
          frame: '{"type":"say","text":"wake"}',
          match: '"wake"',
          ...settings.w5,
        })
      : undefined;
    if (only.has("w1")) {
      result.w1 = await pingPong(WS, settings.w1);
      log(key, "w1", JSON.stringify(result.w1));
    }
    if (only.has("w2")) {
      result.w2 = await roomBroadcast(WS, settings.w2);
      log(key, "w2", JSON.stringify(result.w2));
    }
    if (waking) {
      result.w5 = await waking.finish();
      log(key, "w5", JSON.stringify(result.w5));
    }
    if (only.has("w3")) {
      result.w3 = await fanout(WS, settings.w3);
      log(key, "w3", JSON.stringify(result.w3));
    }
    if (only.has("w4")) {
      await sleep(1_000);
      result.w4 = await rampThroughFronts(key, config, server);
      log(key, "w4", JSON.stringify(result.w4));
    }
  } catch (error) {
    result.error = String(error?.stack ?? error);
    log(key, "failed:", result.error, "\n", server.output().slice(-2_000));
  } finally {
    await server.stop();
  }
  return result;
}

/**
 * Workload 4 through `settings.w4.fronts` pass-through fronts (or straight to
 * the variant's `wrangler dev` with 0), under the descriptor guard, which
 * watches every workerd of the variant and of the fronts.
 */
async function rampThroughFronts(key, config, server) {
  const { name } = JSON.parse(readFileSync(config, "utf8"));
  let front;
  try {
    if (settings.w4.fronts > 0) {
      log(key, `w4: starting ${settings.w4.fronts} front(s)`);
      front = await startFronts(settings.w4.fronts, name, server.registry);
    }
    const guard = descriptorGuard([
      { label: `${key}`, pid: server.child.pid },
      ...(front?.urls ?? []).map(({ pid }, i) => ({ label: `front ${i + 1}`, pid })),
    ]);
    guard.sample();
    const { sockets_, ...w4 } = await ramp(front ? front.urls.map(({ ws }) => ws) : WS, {
      ...settings.w4,
      guard: guard.check,
    });
    guard.sample();
    for (const ws of sockets_) ws.terminate();
    return { ...w4, descriptors: guard.report() };
  } finally {
    await front?.stop();
  }
}

/** Workload 7: wasm size, and the bundle `wrangler deploy --dry-run` would upload. */
function sizes(configs) {
  const wasm = readFileSync(join(root, "pkg/core_bg.wasm"));
  const result = {
    wasmRaw: wasm.length,
    wasmGzip: gzipSync(wasm, { level: 9 }).length,
    bundles: {},
  };
  for (const [key, config] of Object.entries(configs)) {
    const dist = join(out, `dist-${key.toLowerCase()}`);
    rmSync(dist, { recursive: true, force: true });
    execFileSync(wrangler, ["deploy", "--dry-run", "--config", config, "--outdir", dist], {
      cwd: root,
      stdio: "ignore",
    });
    let raw = 0;
    let gzip = 0;
    for (const name of readdirSync(dist).filter((file) => !file.endsWith(".map"))) {
      const bytes = readFileSync(join(dist, name));
      raw += statSync(join(dist, name)).size;
      gzip += gzipSync(bytes, { level: 9 }).length;
    }
    result.bundles[key] = { raw, gzip };
  }
  return result;
}

// ---- statistics and report ----

const median = (values) => {
  const v = values.filter(Number.isFinite).sort((x, y) => x - y);
  if (v.length === 0) return Number.NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const summary = (values) => {
  const v = values.filter(Number.isFinite);
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
};
const fmt = (x, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "–";
const cell = (s, digits = 0) =>
  s.n === 0
    ? "–"
    : s.n === 1
      ? fmt(s.median, digits)
      : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;

/** Values of one figure per round for a variant. */
const series = (runs, key, workload, field) =>
  runs.map((round) => round[key]?.[workload]?.[field] ?? Number.NaN);
/** Ratios X/Y computed round by round (pairs from the same round). */
const ratios = (runs, x, y, workload, field) =>
  runs.map(
    (round) =>
      (round[x]?.[workload]?.[field] ?? Number.NaN) / (round[y]?.[workload]?.[field] ?? Number.NaN),
  );

const FIGURES = [
  ["w1", "throughput", "1 ping-pong: frames/s", 0],
  ["w1", "p50", "1 ping-pong: p50 ms", 2],
  ["w1", "p99", "1 ping-pong: p99 ms", 2],
  ["w2", "throughput", "2 broadcast: delivered frames/s", 0],
  ["w2", "p50", "2 broadcast: p50 ms (own echo)", 2],
  ["w2", "p99", "2 broadcast: p99 ms (own echo)", 2],
  [
    "w3",
    "lastMs",
    `3 fan-out to ${settings.w3.count.toLocaleString("en-US")}: ms to last socket`,
    1,
  ],
  ["w3", "p50", "3 fan-out: p50 ms over sockets", 1],
  ["w4", "held", "4 ramp: sockets held", 0],
  ["w4", "errors", "4 ramp: errors", 0],
  ["w4", "rampSeconds", "4 ramp: seconds to open", 1],
  ["w4", "broadcastMs", "4 ramp: ms to broadcast to all held", 0],
  ["w5", "warmP50", "5 wake: warm p50 ms", 2],
  ["w5", "firstMs", "5 wake: first reply after eviction ms", 1],
  ["w5", "ratio", "5 wake: first reply ÷ warm p50", 1],
  ["w6", "coldMs", "6 cold start to first reply ms", 0],
];

function table(runs) {
  const rows = ["| figure | A | B | C | A/B | A/C |", "|---|---:|---:|---:|---:|---:|"];
  for (const [w, field, label, digits] of FIGURES.filter(([w]) => only.has(w))) {
    const [a, b, c] = ["A", "B", "C"].map((k) => summary(series(runs, k, w, field)));
    rows.push(
      `| ${label} | ${cell(a, digits)} | ${cell(b, digits)} | ${cell(c, digits)} | ${cell(summary(ratios(runs, "A", "B", w, field)), 2)} | ${cell(summary(ratios(runs, "A", "C", w, field)), 2)} |`,
    );
  }
  return rows.join("\n");
}

function verdicts(runs, size) {
  const r = (x, y, w, f) => summary(ratios(runs, x, y, w, f)).median;
  const held = summary(series(runs, "A", "w4", "held"));
  const errors = summary(series(runs, "A", "w4", "errors"));
  const wakeRatio = median(runs.map((round) => round.A?.w5?.firstMs / round.A?.w5?.warmP50));
  const woke = runs.every((round) => round.A?.w5?.woke);
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const line = (ok, text) => `- **${ok ? "met" : "not met"}** — ${text}`;
  /** A target is judged only when its workload ran for the variants it compares. */
  const ran = (w, ...keys) => only.has(w) && keys.every((k) => variantKeys.includes(k));
  const target = settings.w4.target.toLocaleString("en-US");
  const stops = runs
    .map((round) => round.A?.w4?.stoppedBy)
    .filter(Boolean)
    .map((reason) => `; stopped by the ${reason}`);
  /** Workload `n`'s A/`other` throughput ratio against its target `min`. */
  const throughputAtLeast = (n, other, min) =>
    ran(`w${n}`, "A", other) &&
    line(
      r("A", other, `w${n}`, "throughput") >= Number(min),
      `workload ${n} A/${other} throughput ≥ ${min}: ${fmt(r("A", other, `w${n}`, "throughput"), 2)}`,
    );
  const lines = [
    throughputAtLeast(1, "B", "1.0"),
    throughputAtLeast(1, "C", "0.95"),
    throughputAtLeast(2, "C", "0.9"),
    ran("w3", "A", "C") &&
      line(
        r("A", "C", "w3", "lastMs") <= 2,
        `fan-out to ${settings.w3.count.toLocaleString("en-US")} ≤ 2× C: A/C time to last socket ${fmt(r("A", "C", "w3", "lastMs"), 2)}× (A's room reached ${cell(summary(series(runs, "A", "w3", "sockets")))} sockets in the cap)`,
      ),
    ran("w4", "A") &&
      line(
        held.min >= settings.w4.target && errors.max === 0,
        `${target} sockets held with zero errors: A held ${cell(held)} of ${target} (errors ${cell(errors)}) within the ${settings.w4.capMs / 1000} s cap${[...new Set(stops)].join("")}`,
      ),
    ran("w5", "A") &&
      line(
        wakeRatio <= 2 && woke,
        `first reply after eviction ≤ 2× warm p50: ${fmt(wakeRatio, 1)}× (${woke ? "each a confirmed wake" : "a wake was NOT confirmed in every round"})`,
      ),
    size && line(size.wasmRaw <= 128 * 1024, `core wasm ≤ 128 KiB raw: ${kib(size.wasmRaw)}`),
    size && line(size.wasmGzip <= 48 * 1024, `core wasm ≤ 48 KiB gzip: ${kib(size.wasmGzip)}`),
  ].filter(Boolean);
  return lines.length > 0 ? lines.join("\n") : "(no target's workload ran in this subset)";
}

/** An SVG bar chart, one panel per figure, bars = median, whiskers = min–max. */
function chart(runs) {
  const panels = [
    ["w1", "throughput", "1 ping-pong, frames/s"],
    ["w1", "p50", "1 ping-pong, p50 ms"],
    ["w1", "p99", "1 ping-pong, p99 ms"],
    ["w2", "throughput", "2 broadcast, frames/s"],
    ["w2", "p50", "2 broadcast, p50 ms"],
    ["w2", "p99", "2 broadcast, p99 ms"],
  ];
  const colors = { A: "#d9480f", B: "#1971c2", C: "#868e96" };
  const W = 220;
  const H = 200;
  const cols = 3;
  const width = W * cols;
  const height = H * Math.ceil(panels.length / cols) + 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11" role="img">`,
    "<title>npm run bench: throughput and p50/p99 latency per variant (median, whiskers min–max)</title>",
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  panels.forEach(([w, field, title], i) => {
    const x0 = (i % cols) * W;
    const y0 = Math.floor(i / cols) * H;
    const stats = ["A", "B", "C"].map((k) => [k, summary(series(runs, k, w, field))]);
    const top = Math.max(...stats.map(([, s]) => s.max).filter(Number.isFinite), 1e-9) * 1.15;
    const base = y0 + H - 30;
    const scale = (v) => Math.round((10 * (H - 70) * v) / top) / 10;
    parts.push(
      `<text x="${x0 + W / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${title}</text>`,
    );
    parts.push(
      `<line x1="${x0 + 20}" y1="${base}" x2="${x0 + W - 20}" y2="${base}" stroke="#333"/>`,
    );
    stats.forEach(([k, s], j) => {
      const bx = x0 + 35 + j * 55;
      if (Number.isFinite(s.median)) {
        const h = scale(s.median);
        parts.push(
          `<rect x="${bx}" y="${base - h}" width="40" height="${h}" fill="${colors[k]}"/>`,
        );
        parts.push(
          `<line x1="${bx + 20}" y1="${base - scale(s.min)}" x2="${bx + 20}" y2="${base - scale(s.max)}" stroke="#000"/>`,
        );
        const digits = s.median < 10 ? 2 : 0;
        parts.push(
          `<text x="${bx + 20}" y="${base - h - 5}" text-anchor="middle">${fmt(s.median, digits)}</text>`,
        );
      }
      parts.push(`<text x="${bx + 20}" y="${base + 14}" text-anchor="middle">${k}</text>`);
    });
  });
  const legend = Object.keys(VARIANTS)
    .map(
      (k, j) =>
        `<rect x="${10 + j * 150}" y="${height - 20}" width="10" height="10" fill="${colors[k]}"/><text x="${24 + j * 150}" y="${height - 11}">${VARIANTS[k].label}</text>`,
    )
    .join("");
  parts.push(legend, "</svg>");
  return `${parts.join("\n")}\n`;
}

/** A section (from its "## " heading to the next) of the previous RESULTS.md. */
function keptSection(previous, heading, fallback) {
  const start = previous.indexOf(`\n## ${heading}\n`);
  if (start < 0) return fallback;
  const rest = previous.slice(start + 1);
  const end = rest.indexOf("\n## ", 4);
  return (end < 0 ? rest : rest.slice(0, end)).trimEnd();
}

function versions() {
  const run = (cmd, cmdArgs) => {
    try {
      return execFileSync(cmd, cmdArgs, { cwd: root, encoding: "utf8" }).trim();
    } catch {
      return "?";
    }
  };
  const pkg = (name) =>
    JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;
  return {
    node: process.version,
    wrangler: pkg("wrangler"),
    workerd: pkg("workerd"),
    ws: pkg("ws"),
    rustc: run("rustc", ["--version"]),
    wasmBindgen:
      /wasm-bindgen = "=?([^"]+)"/.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))?.[1] ?? "?",
    commit: run("git", ["rev-parse", "--short", "HEAD"]),
  };
}

/** Writes the report; returns the path written (bench/out/RESULTS-partial.md for a subset). */
function report({ runs, size, micro, started, seconds, fdLimit }) {
  const v = versions();
  const path = join(bench, "RESULTS.md");
  let previous = "";
  try {
    previous = readFileSync(path, "utf8");
  } catch {
    // first run
  }
  const date = started.toISOString().replace("T", " ").slice(0, 16);
  const r = (x, y, w, f) => fmt(summary(ratios(runs, x, y, w, f)).median, 2);
  const historyLine = `- ${date} UTC, ${quick ? "quick" : "full"}, ${runs.length} round(s), commit ${v.commit}: w1 A/B ${r("A", "B", "w1", "throughput")}, A/C ${r("A", "C", "w1", "throughput")}; w2 A/C ${r("A", "C", "w2", "throughput")}; w3 A/C ${r("A", "C", "w3", "lastMs")}×; w4 A held ${fmt(summary(series(runs, "A", "w4", "held")).median)}; wasm ${size ? `${(size.wasmRaw / 1024).toFixed(1)} KiB / ${(size.wasmGzip / 1024).toFixed(1)} KiB gzip` : "–"}`;
  const history = keptSection(
    previous,
    "History",
    "## History\n\nOne line per run of `npm run bench`, newest last.\n",
  );
  const findings = keptSection(previous, "Findings", "## Findings\n\n(not written yet)\n");
  const failures = Object.entries(runs)
    .flatMap(([i, round]) =>
      Object.entries(round)
        .filter(([, res]) => res.error)
        .map(([k, res]) => `- round ${Number(i) + 1}, ${k}: ${res.error.split("\n")[0]}`),
    )
    .join("\n");
  const w4notes = runs
    .flatMap((round, i) =>
      Object.entries(round).map(([k, res]) =>
        res.w4
          ? `- round ${i + 1}, ${k}: ${res.w4.sockets} opened, ${res.w4.held} held, ${fmt(res.w4.joinsPerSecond)} joins/s, broadcast ${fmt(res.w4.broadcastMs)} ms${res.w4.capped ? " (time cap reached)" : ""}${res.w4.stoppedBy ? ` (stopped by the ${res.w4.stoppedBy})` : ""}${res.w4.errorSamples.length ? `; ${res.w4.errorSamples.join("; ")}` : ""}. Descriptors, first → peak: ${descriptorNotes(res.w4)}`
          : "",
      ),
    )
    .filter(Boolean)
    .join("\n");
  const wakeNotes = runs
    .flatMap((round, i) =>
      Object.entries(round).map(([k, res]) =>
        res.w5 ? `round ${i + 1} ${k}: ${res.w5.woke ? "woke" : "NOT evicted"}` : "",
      ),
    )
    .filter(Boolean)
    .join(", ");
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const text = `# Benchmark results

Written by \`npm run bench\`${quick ? " (**--quick**: a smoke run, small sizes, one round)" : ""} on ${date} UTC
in ${seconds.toFixed(0)} s. ${
    partial
      ? "A subset run (BENCH_ONLY / BENCH_VARIANTS): bench/RESULTS.md is the full report."
      : `Do not edit by hand, except the sections "Findings" and "History",
which the script keeps.`
  }

- Machine: ${cpus()[0]?.model ?? "?"} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}; descriptor limit ${fdLimit}
- Versions: Node ${v.node}, wrangler ${v.wrangler}, workerd ${v.workerd}, ws ${v.ws}, ${v.rustc}, wasm-bindgen ${v.wasmBindgen}; commit ${v.commit}
- Rounds: ${runs.length}, order ${variantKeys.join(" ")} in each; every variant gets a fresh \`wrangler dev\` on 127.0.0.1:${PORT}
- Sizes: workload 1 ${settings.w1.clients} clients × ${settings.w1.frames} frames; workload 2 ${settings.w2.clients} clients × ${settings.w2.frames} \`say\` (${settings.w2.clients ** 2 * settings.w2.frames} deliveries); workload 3 ${settings.w3.count} sockets × ${settings.w3.repeats} frames; workload 4 up to ${settings.w4.target} sockets in ${settings.w4.capMs / 1000} s; workload 5 ${settings.w5.rooms} room(s) × ${settings.w5.warm} warm round trips, then ${settings.w5.idleMs / 1000} s idle, one wake per room (a round's figure is the median)

Cells are the median with min–max over rounds; A/B and A/C are computed within each round, then summarised.

## Targets

${verdicts(runs, size)}

## Figures

${table(runs)}

![throughput and latency per variant](chart.svg)

Workload 4 per run:
${w4notes ? `${w4notes}\n\n${w4paragraph(fdLimit)}` : "(not run)"}

${wakeNotes ? `Workload 5 wake confirmed (instance created after the idle began): ${wakeNotes}.` : ""}
${failures ? `\nFailures:\n${failures}\n` : ""}
### Sizes (workload 7)

${
  size
    ? `| | raw | gzip |
|---|---:|---:|
| A \`pkg/core_bg.wasm\` | ${kib(size.wasmRaw)} | ${kib(size.wasmGzip)} |
${Object.entries(size.bundles)
  .map(
    ([k, s]) =>
      `| ${VARIANTS[k].label}: bundle of \`wrangler deploy --dry-run\` | ${kib(s.raw)} | ${kib(s.gzip)} |`,
  )
  .join("\n")}`
    : "(not run)"
}

### The Wasm boundary, per call (bench/boundary.mjs, Node ${v.node})

${
  micro
    ? `| µs per call | what |
|---:|---|
${micro.map(({ what, us }) => `| ${us.toFixed(2)} | ${what} |`).join("\n")}`
    : "(not run)"
}

## Variants

- **A** is the project as deployed: \`npm run build\` (no test hooks), \`js/index.ts\` with the
  project's \`wrangler.jsonc\` minus its \`build\` step (built once before the rounds), and with
  the bench's limits as \`vars\` (${Object.entries(BENCH_VARS)
    .map(([k, val]) => `\`${k}=${val}\``)
    .join(", ")}) so no workload is capped or rate-limited.
- **B** (\`bench/ts-reference/\`) is the seed in plain TypeScript, same replies and close
  handling as A's \`/websocket\`. Its rooms are the least that matches A's \`say\`: the socket
  is accepted with the tag \`room\` and an attachment \`{id, name}\`; a frame is read back from
  the attachment, \`JSON.parse\`d, checked for \`type\` and \`text\`, and
  \`{"type":"message","id","name","text","ts"}\` is sent to \`getWebSockets("room")\`.
  No welcome, joined or left frames.
- **C** (\`bench/raw-echo/\`) is the ceiling: \`ws.send(message)\` on \`/websocket\`; in a room the
  frame goes unchanged to \`getWebSockets("room")\`.
- All three answer \`GET /rooms/{room}\` with \`instance_started_at\`, so workload 5 can
  confirm the reply after the idle came from a new instance.
- Workloads 2–5 use a fresh room each; the client matches its own frame by a token in
  \`text\` (present in all three variants' frames). Workload 4 is last: its sockets are
  dropped by stopping the server, as A would answer each close with \`left\` to all others.
${
  partial
    ? `
(A subset run: BENCH_ONLY=${[...only].join(",")}, BENCH_VARIANTS=${variantKeys.join("")}. Findings and History are in bench/RESULTS.md.)
`
    : `
${findings}

${history}
${historyLine}
`
}`;
  if (partial) {
    const partialPath = join(out, "RESULTS-partial.md");
    writeFileSync(partialPath, text.replace("](chart.svg)", "](chart-partial.svg)"));
    writeFileSync(join(out, "chart-partial.svg"), chart(runs));
    writeFileSync(
      join(out, "results-partial.json"),
      JSON.stringify({ settings, runs, size, micro }, null, 2),
    );
    return relative(root, partialPath);
  }
  writeFileSync(path, text);
  writeFileSync(join(bench, "chart.svg"), chart(runs));
  writeFileSync(
    join(out, "results.json"),
    JSON.stringify({ settings, runs, size, micro }, null, 2),
  );
  return "bench/RESULTS.md and bench/chart.svg";
}

/** "C runtime 81 → 10,093 (1.00 per socket), …" from a workload 4 result. */
function descriptorNotes(w4) {
  const perFront = w4.sockets / Math.max(1, settings.w4.fronts);
  return (w4.descriptors ?? [])
    .map(({ label, role, first, peak, limit }) => {
      // sockets that went through this process: all of them for the variant, a share per front
      const through = label.startsWith("front") ? perFront : w4.sockets;
      const each =
        through > 0 && peak - first > through / 4
          ? ` (${fmt((peak - first) / through, 2)} per socket)`
          : "";
      return `${label} ${role} ${fmt(first)} → ${fmt(peak)} of ${fmt(limit)}${each}`;
    })
    .join(", ");
}

/** What workload 4's descriptor figures mean; the same in every report. */
function w4paragraph(fdLimit) {
  const limit = Number(fdLimit).toLocaleString("en-US");
  const via =
    settings.w4.fronts > 0
      ? `Workload 4 goes through ${settings.w4.fronts} pass-through front Worker(s) (\`bench/front/\`, \`BENCH_W4_FRONTS\`):
each is served by \`bench/front/serve.mjs\` with wrangler's programmatic API in its own processes,
and forwards every request, the upgrade included, to the variant's Worker through a service binding
that a private dev registry resolves. The client spreads the sockets over the fronts and connects
to each front's runtime directly, not through its dev proxy.`
      : `Workload 4 connects to the variant's \`wrangler dev\` directly (\`BENCH_W4_FRONTS=0\`).`;
  return `${via}
The Durable Object, and with it every hibernatable socket (\`acceptWebSocket\`), stays in the
variant's runtime process. Counted in \`/proc/<pid>/fd\` (workerd ${versions().workerd}), per
WebSocket: a runtime holds 2 descriptors for a connection it accepts from the client (the
accepted socket and a duplicate of it), a front's connection to the variant through the dev
registry 1 in each of the two runtimes, and wrangler's dev proxy 4. So through the fronts the
variant's runtime needs about 1 descriptor per socket and each front 3 per socket it carries, while
one \`wrangler dev\` alone reaches this machine's limit of ${limit} per process (a hard limit:
\`ulimit -n\` cannot raise it) in its dev proxy near ${Math.round(Number(fdLimit) / 4).toLocaleString("en-US")} sockets, where workerd fails \`accept()\` with
EMFILE and wrangler restarts it, dropping every socket (1006). A guard reads the descriptors of every
workerd of the variant and the fronts (every 250 ms, every 50 ms past 80 % of the threshold) and
stops the ramp, without counting an error, once one is within 256 of its limit; the notes above
name it and give each process's first and peak count. A deployed object is subject to none of
this.`;
}

// ---- main ----

const started = new Date();
const t0 = performance.now();
mkdirSync(out, { recursive: true });
if (partial) log(`subset: workloads ${[...only].join(",")}, variants ${variantKeys.join("")}`);
if (variantKeys.includes("A") || only.has("w7") || only.has("boundary")) {
  log("building the project (npm run build, no test hooks)");
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (readFileSync(join(root, "pkg/core_bg.wasm")).includes("__test_panic__")) {
    throw new Error("pkg/core_bg.wasm holds the test-only panic hook");
  }
}
const configs = Object.fromEntries(variantKeys.map((k) => [k, prepareConfig(k)]));
const fdLimit = execFileSync("bash", ["-c", "ulimit -n $(ulimit -Hn) 2>/dev/null; ulimit -n"], {
  encoding: "utf8",
}).trim();
let size;
if (only.has("w7")) {
  log("sizes (wrangler deploy --dry-run)");
  size = sizes(configs);
}
let micro;
if (only.has("boundary")) {
  log("boundary micro-benchmark");
  micro = await boundary();
}
const runs = [];
const needsServer = ["w1", "w2", "w3", "w4", "w5", "w6"].some((w) => only.has(w));
for (let round = 0; needsServer && round < settings.rounds; round++) {
  const results = {};
  for (const key of variantKeys) {
    log(`round ${round + 1}/${settings.rounds}, variant ${key}`);
    results[key] = await runVariant(key, configs[key]);
  }
  runs.push(results);
}
const written = report({
  runs,
  size,
  micro,
  started,
  seconds: (performance.now() - t0) / 1000,
  fdLimit,
});
log(`wrote ${written}`);
process.exit(0);
