// `npm run bench [-- options]`: builds the project (no test hooks), then serves
// each variant (A this project, B bench/ts-reference, C bench/raw-echo, H this
// project with HISTORY_LIMIT=0, for workloads 2 and 5 only) with `wrangler dev` on
// 127.0.0.1, one at a time, in rounds whose order rotates (A B C H, B C H A,
// …), runs the workloads against it (bench/lib/client.mjs),
// prints each round's ratios and the pooled verdicts, and writes the report
// (bench/lib/report.mjs). Never part of `npm test`.
//
//   --smoke          every workload at tiny sizes, one round (CI): report in bench/out/
//   --rounds N       rounds (default 9)
//   --only w1,w4     a subset of w1–w10 and boundary: report in bench/out/
//   --variants AC    a subset of the variants: report in bench/out/
//   --fronts N       workloads 4 and 10's pass-through fronts (default 2, 1 with --smoke
//                    for workload 4 and none for workload 10's 200 sockets; 0: none)
//   --wakes N        workload 5's wakes per round (default 5, 1 with --smoke)
//
// Workload 8 (the idle reaper) runs once, for A only, after the rounds: its own
// `wrangler dev` with a short IDLE_TIMEOUT_SECONDS. Workload 10 (rooms on several
// objects) runs once too, for A only, after it: a fresh `wrangler dev` per shard
// count, with the object cap that spreads its room over that many objects
// (bench/lib/shards.mjs), and one with objects of 1 for the hop and the sequencer.
//
// Only a full run (no --smoke, no subset) rewrites bench/RESULTS.md and
// bench/chart.svg, keeping the "Findings" and "History" sections. The exit
// code is 1 when a workload failed or a verdict could not be computed.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { boundary } from "./boundary.mjs";
import { descriptorGuard, workerdCpuMs } from "./descriptors.mjs";
import {
  fanout,
  historyResume,
  pingPong,
  ramp,
  reaper,
  roomBroadcast,
  sleep,
  wake,
} from "./lib/client.mjs";
import {
  chart,
  fmt,
  markdown,
  SHARD_TARGET,
  shardLines,
  shardVerdicts,
  sizeLine,
  verdictLine,
} from "./lib/report.mjs";
import { bundleSize, prepareConfig, root, startFronts, startServer } from "./lib/server.mjs";
import { shardedBroadcast, shardHops } from "./lib/shards.mjs";
import { judge } from "./lib/stats.mjs";

const bench = join(root, "bench");
const out = join(bench, "out");
const PORT = 8810;
const WS = `ws://127.0.0.1:${PORT}`;
const HTTP = `http://127.0.0.1:${PORT}`;
const WASM_BUDGET = 160 * 1024;

const { values: opt } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    rounds: { type: "string" },
    only: { type: "string" },
    variants: { type: "string" },
    fronts: { type: "string" },
    wakes: { type: "string" },
  },
});
const int = (name, fallback, min, max) => {
  const value = Number(opt[name] ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} ${opt[name]}: expected an integer ${min}–${max}`);
  }
  return value;
};
/**
 * Workload 8's timing: a 15 s timeout and a ping every 3.75 s keep the ratio of
 * the defaults (120 s, RoomClient's 30 s), and leave the alarm's runs (every
 * 11–15 s) further apart than wrangler dev's 10 s eviction, so each is a wake.
 */
const REAPER = (sizes) => ({ timeoutS: 15, pingMs: 3_750, ...sizes });
const settings = opt.smoke
  ? {
      w1: { clients: 4, frames: 20, capMs: 10_000 },
      w2: { clients: 4, frames: 5, capMs: 10_000 },
      w3: { count: 50, repeats: 2, capMs: 15_000 },
      w4: { target: 200, capMs: 20_000, fronts: int("fronts", 1, 0, 16) },
      w5: { warm: 5, idleMs: 15_000, rooms: int("wakes", 1, 1, 50) },
      w8: REAPER({ rooms: 10, ghosts: 1, baselineMs: 8_000, windowMs: 32_000 }),
      w9: { fill: 100, missed: 100 },
      w10: {
        sockets: 200,
        shards: [1, 2, 4],
        repeats: 1,
        capMs: 30_000,
        fronts: int("fronts", 0, 0, 16),
        says: 10,
        spans: [1, 2, 4],
        burst: 20,
      },
    }
  : {
      w1: { clients: 32, frames: 300, capMs: 30_000 },
      w2: { clients: 16, frames: 50, capMs: 30_000 },
      w3: { count: 1_000, repeats: 5, capMs: 75_000 },
      w4: { target: 10_000, capMs: 90_000, fronts: int("fronts", 2, 0, 16) },
      w5: { warm: 30, idleMs: 12_000, rooms: int("wakes", 5, 1, 50) },
      w8: REAPER({ rooms: 100, ghosts: 5, baselineMs: 20_000, windowMs: 90_000 }),
      w9: { fill: 100, missed: 100 },
      w10: {
        sockets: 10_000,
        shards: [1, 2, 4, 8],
        repeats: 3,
        capMs: 180_000,
        fronts: int("fronts", 2, 0, 16),
        says: 100,
        spans: [1, 2, 4, 8],
        burst: 200,
      },
    };
const rounds = opt.smoke ? 1 : int("rounds", 9, 1, 100);

/**
 * The variants; `workloads`, when given, are the only ones a variant runs
 * (H exists to compare room broadcast and the wake with history on and off, in the same
 * rounds as A), and `vars` are added to the bench's.
 */
const VARIANTS = {
  A: { label: "A: this project", config: join(root, "wrangler.jsonc") },
  B: { label: "B: TS reference", config: join(bench, "ts-reference/wrangler.jsonc") },
  C: { label: "C: raw echo", config: join(bench, "raw-echo/wrangler.jsonc") },
  H: {
    label: "H: this project, HISTORY_LIMIT=0",
    config: join(root, "wrangler.jsonc"),
    vars: { HISTORY_LIMIT: "0" },
    workloads: ["w2", "w5"],
  },
};
const WORKLOADS = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10", "boundary"];
const pick = (name, all, picked) => {
  if (picked === undefined) return all;
  const bad = picked.filter((x) => !all.includes(x));
  if (bad.length > 0 || picked.length === 0) {
    throw new Error(`--${name} ${opt[name]}: expected some of ${all.join(", ")}`);
  }
  return all.filter((x) => picked.includes(x));
};
const only = pick("only", WORKLOADS, opt.only?.toLowerCase().split(/[ ,]+/).filter(Boolean));
const variantKeys = pick(
  "variants",
  Object.keys(VARIANTS),
  opt.variants?.toUpperCase().match(/[A-Z]/g) ?? undefined,
);
const subset = only.length < WORKLOADS.length || variantKeys.length < Object.keys(VARIANTS).length;
const mode = opt.smoke ? "smoke" : subset ? "subset" : "full";
/** Workloads of A alone in the rounds: workload 9 measures this project's history. */
const A_ONLY = ["w9"];
/** Whether variant `key` runs workload `w` in the rounds. */
const does = (key, w) =>
  only.includes(w) &&
  (VARIANTS[key].workloads?.includes(w) ?? true) &&
  (key === "A" || !A_ONLY.includes(w));
/** Whether workload `w` ran for A and for `other` (when given). */
const ran = (w, other = "A") =>
  variantKeys.includes("A") && variantKeys.includes(other) && does("A", w) && does(other, w);

/**
 * Targets of issues 19, 13 and 15: [short name, workload, figure, ≥ or ≤,
 * limit, what, kind]. Each is a ratio A/X (X the short name's last letter),
 * pooled over rounds; a `difference` target is A − X in the figure's unit.
 */
const TARGETS = [
  ["w1 A/B", "w1", "throughput", "≥", 1.0, "workload 1 (ping-pong) frames/s"],
  ["w1 A/C", "w1", "throughput", "≥", 0.97, "workload 1 (ping-pong) frames/s"],
  ["w2 A/C", "w2", "throughput", "≥", 0.95, "workload 2 (room broadcast) frames/s"],
  ["ramp A/C", "w4", "joinsPerSecond", "≥", 0.8, "workload 4 (ramp) joins/s"],
  ["bcast A/C", "w4", "broadcastMs", "≤", 1.1, `broadcast to ${fmt(settings.w4.target)}: ms`],
  ["fan-out A/C", "w3", "lastMs", "≤", 1.1, `fan-out to ${fmt(settings.w3.count)}: ms`],
  ["wake A/C", "w5", "firstMs", "≤", 1.1, "first reply after a wake: ms"],
  ["w2 A/H", "w2", "throughput", "≥", 0.8, "workload 2 (room broadcast) frames/s, history on/off"],
  [
    "w2 p50 A−H",
    "w2",
    "p50",
    "≤",
    2,
    "workload 2 (room broadcast) p50 ms, history on − off",
    "difference",
  ],
].map(([short, workload, field, at, limit, what, kind = "ratio"]) => {
  const y = short.slice(-1);
  const label = kind === "difference" ? `${what}: A − ${y}` : `${what} A/${y}`;
  return { short, workload, field, y, at, limit, kind, label };
});

const log = (...parts) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);

/** One variant, one round: every selected workload against a fresh `wrangler dev`. */
async function runVariant(key, config) {
  const server = startServer(config, { port: PORT, inspector: 9310 });
  const result = {};
  const step = async (w, run) => {
    if (!does(key, w)) return;
    result[w] = await run();
    log(
      key,
      w,
      JSON.stringify(result[w], (k, v) => (k === "descriptors" ? undefined : v)),
    );
  };
  let fronts;
  try {
    const coldMs = await server.firstReply();
    await step("w6", () => ({ coldMs }));
    await sleep(500);
    // Workload 5's objects idle (and are evicted) while workloads 1–3 load others.
    const waking = does(key, "w5") ? await wake(WS, HTTP, settings.w5) : undefined;
    await step("w1", () => pingPong(WS, settings.w1));
    await step("w2", () => roomBroadcast(WS, settings.w2));
    await step("w3", () => fanout(WS, settings.w3));
    await step("w9", () => historyResume(WS, HTTP, settings.w9));
    if (does(key, "w4") && settings.w4.fronts > 0) {
      log(key, `w4: starting ${settings.w4.fronts} front(s)`);
      const { name } = JSON.parse(readFileSync(config, "utf8"));
      fronts = await startFronts(settings.w4.fronts, name, server.registry);
    }
    await step("w5", () => waking.finish());
    await step("w4", async () => {
      await sleep(1_000);
      const guard = descriptorGuard([
        { label: key, pid: server.child.pid },
        ...(fronts?.urls ?? []).map(({ pid }, i) => ({ label: `front ${i + 1}`, pid })),
      ]);
      guard.sample();
      const bases = fronts ? fronts.urls.map(({ ws }) => ws) : WS;
      const { sockets_, ...w4 } = await ramp(bases, { ...settings.w4, guard: guard.check });
      guard.sample();
      for (const ws of sockets_) ws.terminate();
      return { ...w4, descriptors: guard.report() };
    });
  } catch (error) {
    result.error = String(error?.stack ?? error);
    log(key, "failed:", result.error, "\n", server.output().slice(-2_000));
  } finally {
    await fronts?.stop();
    await server.stop();
  }
  return result;
}

/**
 * Workload 10 (A only, once): for each shard count a fresh `wrangler dev`
 * whose object cap spreads a room of `sockets` over that many objects, the
 * sockets opened through the fronts with the descriptor guard (as workload
 * 4); then one with objects of 1 for the hop and the sequencer. Failures
 * (a socket that missed a message or got one twice, another order, fewer
 * shards than asked) go to `failures`.
 */
async function shardWorkload(s) {
  const result = { broadcast: [], hops: undefined };
  for (const shards of s.shards) {
    const cap = Math.ceil(s.sockets / shards);
    log(`w10: ${fmt(s.sockets)} sockets on ${shards} shard(s), object cap ${fmt(cap)}`);
    const config = prepareConfig(VARIANTS.A.config, join(out, `a-w10-${shards}`), {
      MAX_CONNECTIONS_PER_ROOM: String(s.sockets),
      MAX_CONNECTIONS_PER_OBJECT: String(cap),
      PRESENCE_LIMIT: String(Math.min(100, cap)),
    });
    const server = startServer(config, { port: PORT, inspector: 9310 });
    let fronts;
    let opened = [];
    try {
      await server.firstReply();
      if (s.fronts > 0) {
        const { name } = JSON.parse(readFileSync(config, "utf8"));
        fronts = await startFronts(s.fronts, name, server.registry);
      }
      await sleep(1_000);
      const guard = descriptorGuard([
        { label: "A", pid: server.child.pid },
        ...(fronts?.urls ?? []).map(({ pid }, i) => ({ label: `front ${i + 1}`, pid })),
      ]);
      guard.sample();
      const bases = fronts ? fronts.urls.map(({ ws }) => ws) : WS;
      const { sockets_, ...run } = await shardedBroadcast(bases, HTTP, {
        ...s,
        shards,
        guard: guard.check,
      });
      opened = sockets_;
      guard.sample();
      result.broadcast.push({ ...run, cap, descriptors: guard.report() });
      log("w10", JSON.stringify(run));
      const wrong = [
        run.held < s.sockets && `${fmt(run.held)} of ${fmt(s.sockets)} sockets held`,
        run.shardsSeen !== shards && `${run.shardsSeen} shards in the stats`,
        run.missing > 0 && `${run.missing} deliveries missing`,
        run.duplicates > 0 && `${run.duplicates} duplicates`,
        run.disorder > 0 && `${run.disorder} sockets with another order`,
      ].filter(Boolean);
      if (wrong.length > 0) failures.push(`w10, ${shards} shard(s): ${wrong.join(", ")}`);
    } catch (error) {
      failures.push(`w10, ${shards} shard(s): ${String(error?.stack ?? error).split("\n")[0]}`);
      log("w10 failed:", error, "\n", server.output().slice(-2_000));
    } finally {
      await fronts?.stop();
      await server.stop();
      for (const ws of opened) ws.terminate();
    }
  }
  const most = Math.max(...s.spans);
  log(`w10: hop and sequencer, objects of 1, rooms of up to ${most}`);
  const config = prepareConfig(VARIANTS.A.config, join(out, "a-w10-hop"), {
    MAX_CONNECTIONS_PER_ROOM: String(most),
    MAX_CONNECTIONS_PER_OBJECT: "1",
    PRESENCE_LIMIT: "1",
  });
  const server = startServer(config, { port: PORT, inspector: 9310 });
  try {
    await server.firstReply();
    result.hops = await shardHops(WS, HTTP, { ...s, cpuMs: () => workerdCpuMs(server.child.pid) });
    log("w10", JSON.stringify(result.hops));
    const wrong = result.hops.sequencer.filter((q) => q.errors > 0);
    if (wrong.length > 0) {
      failures.push(
        `w10 sequencer: messages missing or out of order with ${wrong.map((q) => q.shards)} shard(s)`,
      );
    }
  } catch (error) {
    failures.push(`w10 hop: ${String(error?.stack ?? error).split("\n")[0]}`);
    log("w10 hop failed:", error, "\n", server.output().slice(-2_000));
  } finally {
    await server.stop();
  }
  return result;
}

// ---- the sequence ----

const started = new Date();
const t0 = performance.now();
mkdirSync(out, { recursive: true });
log(
  `${mode} run: ${rounds} round(s), workloads ${only.join(",")}, variants ${variantKeys.join("")}`,
);
if (
  variantKeys.some((k) => VARIANTS[k].config === VARIANTS.A.config) ||
  only.includes("w7") ||
  only.includes("boundary")
) {
  log("building the project (npm run build, no test hooks)");
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (readFileSync(join(root, "pkg/core_bg.wasm")).includes("__test_panic__")) {
    throw new Error("pkg/core_bg.wasm holds the test-only panic hook");
  }
}
const configs = Object.fromEntries(
  variantKeys.map((k) => [
    k,
    prepareConfig(VARIANTS[k].config, join(out, k.toLowerCase()), VARIANTS[k].vars),
  ]),
);
const failures = [];
let size;
if (only.includes("w7")) {
  log("w7: sizes (wrangler deploy --dry-run)");
  const wasm = readFileSync(join(root, "pkg/core_bg.wasm"));
  const bundles = Object.fromEntries(
    variantKeys
      .filter((k) => does(k, "w7"))
      .map((k) => [k, bundleSize(configs[k], join(out, `dist-${k.toLowerCase()}`))]),
  );
  size = { wasmRaw: wasm.length, wasmGzip: gzipSync(wasm, { level: 9 }).length, bundles };
  log("w7", sizeLine(size, WASM_BUDGET).replaceAll("**", ""));
}
let micro;
if (only.includes("boundary")) {
  log("boundary micro-benchmark (Node)");
  try {
    micro = await boundary({ calls: opt.smoke ? 200 : 20_000 });
  } catch (error) {
    failures.push(`boundary: ${error?.stack ?? error}`);
    log("boundary failed:", error);
  }
}
const runs = [];
const orders = [];
const SERVED = ["w1", "w2", "w3", "w4", "w5", "w6", "w9"];
/** The variants that serve a selected workload in the rounds, in the order they rotate. */
const serving = variantKeys.filter((k) => SERVED.some((w) => does(k, w)));
for (let r = 0; serving.length > 0 && r < rounds; r++) {
  const order = serving.map((_, i) => serving[(i + r) % serving.length]);
  const results = {};
  for (const key of order) {
    log(`round ${r + 1}/${rounds} (${order.join(" ")}), variant ${key}`);
    results[key] = await runVariant(key, configs[key]);
    if (results[key].error)
      failures.push(`round ${r + 1}, ${key}: ${results[key].error.split("\n")[0]}`);
  }
  runs.push(results);
  orders.push(order);
  const ratios = judge([results], TARGETS, ran).map((t) => `${t.short} ${fmt(t.ratios[0], 2)}`);
  log(`round ${r + 1}/${rounds} ratios: ${ratios.join(", ") || "(none)"}`);
}
let idle;
if (only.includes("w8") && variantKeys.includes("A")) {
  const { timeoutS } = settings.w8;
  log(`w8: the idle reaper, A with IDLE_TIMEOUT_SECONDS=${timeoutS}`);
  const config = prepareConfig(VARIANTS.A.config, join(out, "a-w8"), {
    IDLE_TIMEOUT_SECONDS: String(timeoutS),
  });
  const server = startServer(config, { port: PORT, inspector: 9310 });
  try {
    await server.firstReply();
    idle = await reaper(WS, HTTP, {
      ...settings.w8,
      cpuMs: () => workerdCpuMs(server.child.pid),
    });
    log("w8", JSON.stringify(idle));
    if (idle.runs === 0 || idle.ghostsLeft < idle.ghosts) {
      failures.push(`w8: ${idle.runs} alarm runs, ${idle.ghostsLeft}/${idle.ghosts} ghosts left`);
    }
  } catch (error) {
    failures.push(`w8: ${String(error?.stack ?? error).split("\n")[0]}`);
    log("w8 failed:", error, "\n", server.output().slice(-2_000));
  } finally {
    await server.stop();
  }
}
let sharded;
if (only.includes("w10") && variantKeys.includes("A")) {
  sharded = await shardWorkload(settings.w10);
  for (const v of shardVerdicts(sharded, SHARD_TARGET).filter((v) => v.met === undefined)) {
    failures.push(`no verdict: workload 10, ${v.shards} shards ÷ 1 object`);
  }
}
const judged = judge(runs, TARGETS, ran);
for (const t of judged.filter((t) => t.met === undefined)) failures.push(`no verdict: ${t.label}`);

const text = markdown({
  mode,
  subset: `--only ${only.join(",")} --variants ${variantKeys.join("")}`,
  date: started.toISOString().replace("T", " ").slice(0, 16),
  seconds: (performance.now() - t0) / 1000,
  settings,
  variants: VARIANTS,
  ran: (w) => only.includes(w),
  runs,
  orders,
  judged,
  size,
  budget: WASM_BUDGET,
  micro,
  idle,
  sharded,
  failures,
  previous: readFileSync(join(bench, "RESULTS.md"), "utf8"),
});
const dir = mode === "full" ? bench : out;
writeFileSync(join(dir, "RESULTS.md"), text);
writeFileSync(join(dir, "chart.svg"), chart(runs, VARIANTS));
writeFileSync(
  join(out, "results.json"),
  JSON.stringify({ settings, orders, runs, size, micro, idle, sharded }, null, 2),
);

console.log(
  `\nPooled verdicts (${runs.length} round(s), ${fmt((performance.now() - t0) / 1000)} s):`,
);
for (const line of [
  ...judged.map(verdictLine),
  ...shardLines(sharded, SHARD_TARGET),
  size && sizeLine(size, WASM_BUDGET),
].filter(Boolean)) {
  console.log(`- ${line.replaceAll("**", "")}`);
}
for (const failure of failures) console.log(`FAILED ${failure}`);
console.log(`report: ${join(dir, "RESULTS.md").slice(root.length)}`);
process.exit(failures.length > 0 ? 1 : 0);
