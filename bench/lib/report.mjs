// The report of `npm run bench`: RESULTS.md (verdicts, each round's ratios,
// figures, sizes, the boundary table; the hand-written "Findings" and the
// "History" of the previous report are kept) and chart.svg.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { root } from "./server.mjs";
import { roundRatios, series, summary } from "./stats.mjs";

const COLORS = { A: "#d9480f", B: "#1971c2", C: "#868e96", H: "#f59f00" };

export const fmt = (x, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "–";
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
/** "median (min–max)", or the one value. */
const cell = (s, digits = 0) =>
  s.n === 0
    ? "–"
    : s.n === 1
      ? fmt(s.median, digits)
      : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;

/** A judged target as one line: verdict, pooled ratio, interval, rounds. */
export function verdictLine(t) {
  const word = t.met === undefined ? "NO VERDICT" : t.met ? "met" : "not met";
  const interval = Number.isFinite(t.pool.low)
    ? `, 90 % interval ${fmt(t.pool.low, 2)}–${fmt(t.pool.high, 2)}${t.settled ? "" : ", not settled"}`
    : "";
  return `**${word}**: ${t.label} ${t.at} ${fmt(t.limit, 2)}: pooled ${fmt(t.pool.ratio, 2)} over ${t.pool.n} round(s)${interval}`;
}

/** Issue 17's target: a broadcast in a sharded room takes at most this many times one object's. */
export const SHARD_TARGET = 1.5;

/**
 * Workload 10's verdicts: for each shard count above 1, the time for a
 * broadcast from shard 0 to reach the last socket, ÷ the same on one object
 * (one run, the median of its broadcasts: no interval).
 */
export function shardVerdicts(sharded, limit) {
  const runs = sharded?.broadcast ?? [];
  const one = runs.find((r) => r.shards === 1);
  return runs
    .filter((r) => r.shards > 1)
    .map((r) => {
      const ratio = r.lastMs / one?.lastMs;
      return {
        shards: r.shards,
        sockets: r.held,
        ratio,
        met: Number.isFinite(ratio) ? ratio <= limit : undefined,
        limit,
      };
    });
}

/** Workload 10's verdicts as lines. */
export function shardLines(sharded, limit) {
  return shardVerdicts(sharded, limit).map((v) => {
    const word = v.met === undefined ? "NO VERDICT" : v.met ? "met" : "not met";
    return `**${word}**: workload 10, broadcast to the last of ${fmt(v.sockets)} sockets on ${v.shards} shards ÷ on 1 object ≤ ${fmt(limit, 2)}: ${fmt(v.ratio, 2)} (one run)`;
  });
}

/** Workload 10's tables: the broadcasts per shard count, the hop, the sequencer. */
function shardTables(sharded, w10) {
  if (!sharded) return "(not run)";
  const rows = sharded.broadcast.map((r) => {
    const one = sharded.broadcast.find((x) => x.shards === 1);
    const spread = r.perShard.map(([, n]) => fmt(n)).join(" / ");
    return `| ${r.shards} | ${fmt(r.cap)} | ${fmt(r.held)} (${spread}) | ${fmt(r.joinsPerSecond)} | ${fmt(r.lastMs)} (${r.lastsMs.map((x) => fmt(x)).join(", ")}) | ${fmt(r.followerLastMs)} | ${fmt(r.lastMs / one?.lastMs, 2)} | ${r.missing} / ${r.duplicates} / ${r.disorder} |`;
  });
  const h = sharded.hops;
  const hop = h
    ? `A room of 2 on objects of 1 (shard 0's member L, shard 1's F), ${h.says} says each, one at a time, p50:

| figure | ms |
|---|---:|
| L's say → L's own echo (shard 0 numbers, stores, sends) | ${fmt(h.leaderEchoMs, 2)} |
| L's say: F's copy after L's (one hop: shard 0 → shard 1, \`deliver\`) | ${fmt(h.deliverHopMs, 2)} |
| F's say → F's own echo (\`publish\` to shard 0, then \`deliver\` back) | ${fmt(h.followerEchoMs, 2)} |
| F's echo − L's echo (two hops) | ${fmt(h.twoHopsMs, 2)} |

Shard 0's sequencer: rooms of N members on objects of 1 (shards 0…N−1); L says ${h.says} times, one at a
time (p50 ms to the last member), then sends ${h.burst} says back to back, timed until every member has all of
them. CPU: every workerd process of the server (all shards, the dev proxy); rows: SQLite rows shard 0 wrote.

| shards | one at a time: ms to the last member | back to back: messages/s | runtime CPU per message, ms | shard 0's rows per message | errors |
|---:|---:|---:|---:|---:|---:|
${h.sequencer.map((q) => `| ${q.shards} | ${fmt(q.lastMs, 2)} | ${fmt(q.messagesPerSecond)} | ${fmt(q.cpuPerMessageMs, 2)} | ${fmt(q.rowsPerMessage, 2)} | ${q.errors} |`).join("\n")}`
    : "(the hop and sequencer part failed)";
  return `One room of ${fmt(w10.sockets)} sockets per shard count, each a fresh \`wrangler dev\` with
\`MAX_CONNECTIONS_PER_ROOM\`=${fmt(w10.sockets)} and the object cap below, opened through ${w10.fronts} front(s);
${w10.repeats} broadcast(s) from a member of shard 0 (median, and each), then one from a member of the last shard.
Every socket counts its \`message\` frames: missing / twice / in another order must all be 0.

| shards | object cap | sockets held (per shard) | joins/s | ms to the last socket, from shard 0 | from the last shard | ÷ 1 object | missing / twice / order |
|---:|---:|---|---:|---:|---:|---:|---|
${rows.join("\n")}

${hop}`;
}

/** The wasm budget's line (the only target that is not a ratio). */
export const sizeLine = (size, budget) =>
  `**${size.wasmRaw <= budget ? "met" : "not met"}**: core wasm ≤ ${kib(budget)} raw: ${kib(size.wasmRaw)} (${kib(size.wasmGzip)} gzip)`;

const FIGURES = (s) => [
  ["w1", "throughput", "1 ping-pong: frames/s", 0],
  ["w1", "p50", "1 ping-pong: p50 ms", 2],
  ["w1", "p99", "1 ping-pong: p99 ms", 2],
  ["w2", "throughput", "2 broadcast: delivered frames/s", 0],
  ["w2", "p50", "2 broadcast: p50 ms (own echo)", 2],
  ["w2", "p99", "2 broadcast: p99 ms (own echo)", 2],
  ["w3", "lastMs", `3 fan-out to ${fmt(s.w3.count)}: ms to last socket`, 1],
  ["w3", "p50", "3 fan-out: p50 ms over sockets", 1],
  ["w4", "held", "4 ramp: sockets held", 0],
  ["w4", "errors", "4 ramp: errors", 0],
  ["w4", "joinsPerSecond", "4 ramp: joins/s", 0],
  ["w4", "broadcastMs", "4 ramp: ms to broadcast to all held", 0],
  ["w5", "warmP50", "5 wake: warm p50 ms", 2],
  ["w5", "firstMs", "5 wake: first reply after eviction ms", 1],
  ["w5", "ratio", "5 wake: first reply ÷ warm p50", 1],
  ["w6", "coldMs", "6 cold start to first reply ms", 0],
  ["w9", "resumeMs", `9 history: ms to resume ${fmt(s.w9.missed)} missed messages`, 1],
  ["w9", "rowsFilling", "9 history: rows written per message, room filling", 2],
  ["w9", "rowsFull", "9 history: rows written per message, room full", 2],
  ["w9", "sayMs", "9 history: say round trip p50 ms", 2],
];

/** Every figure per variant, and A/X computed within each round for every other variant X. */
function figures(runs, settings, ran, keys) {
  const others = keys.filter((k) => k !== "A");
  const rows = [
    `| figure | ${keys.join(" | ")} | ${others.map((k) => `A/${k}`).join(" | ")} |`,
    `|---|${[...keys, ...others].map(() => "---:|").join("")}`,
  ];
  for (const [w, field, label, digits] of FIGURES(settings).filter(([w]) => ran(w))) {
    const cells = [
      ...keys.map((k) => cell(summary(series(runs, k, w, field)), digits)),
      ...others.map((k) => cell(summary(roundRatios(runs, "A", k, w, field)), 2)),
    ];
    rows.push(`| ${label} | ${cells.join(" | ")} |`);
  }
  return rows.join("\n");
}

/** Each round's order and its ratio for every judged target. */
function roundsTable(judged, orders) {
  if (judged.length === 0) return "(no target's workload ran)";
  const rows = [
    `| round | order | ${judged.map((t) => t.short).join(" | ")} |`,
    `|---:|---|${judged.map(() => "---:|").join("")}`,
  ];
  orders.forEach((order, i) => {
    const ratios = judged.map((t) => fmt(t.ratios[i], 2));
    rows.push(`| ${i + 1} | ${order.join(" ")} | ${ratios.join(" | ")} |`);
  });
  rows.push(`| pooled | | ${judged.map((t) => `**${fmt(t.pool.ratio, 2)}**`).join(" | ")} |`);
  return rows.join("\n");
}

/** Workload 4, one line per variant and round, descriptors first → peak. */
function rampNotes(runs, fronts) {
  const lines = runs.flatMap((round, i) =>
    Object.entries(round)
      .filter(([, res]) => res.w4)
      .map(([k, { w4 }]) => {
        const through = (label) => (label.startsWith("front") ? w4.sockets / fronts : w4.sockets);
        const fds = (w4.descriptors ?? [])
          .map(({ label, role, first, peak, limit }) => {
            const n = through(label);
            const each = peak - first > n / 4 ? ` (${fmt((peak - first) / n, 2)} per socket)` : "";
            return `${label} ${role} ${fmt(first)} → ${fmt(peak)} of ${fmt(limit)}${each}`;
          })
          .join(", ");
        const why = [
          w4.capped && "time cap reached",
          w4.stoppedBy && `stopped by the ${w4.stoppedBy}`,
          ...w4.errorSamples,
        ].filter(Boolean);
        return `- round ${i + 1}, ${k}: ${fmt(w4.sockets)} opened, ${fmt(w4.held)} held, ${fmt(w4.joinsPerSecond)} joins/s, broadcast ${fmt(w4.broadcastMs)} ms${why.length ? ` (${why.join("; ")})` : ""}. Descriptors, first → peak: ${fds}`;
      }),
  );
  return lines.join("\n");
}

/** Workload 8's figures, measured at a short timeout and scaled to the default. */
function idleTable(idle, w8) {
  if (!idle) return "(not run)";
  const t = w8.timeoutS;
  return `Measured with IDLE_TIMEOUT_SECONDS=${t} and a ping every ${fmt(w8.pingMs / 1000, 2)} s (the
ratio of the default 120 s to RoomClient's 30 s), over ${fmt(idle.window / 1000)} s and ${fmt(idle.rooms)}
rooms of one live member; per room-hour at the default, the runs scale by ${t}/120.

| figure | value |
|---|---:|
| alarm runs (each a wake) per room-hour, measured at ${t} s | ${fmt(idle.runsPerRoomHour)} |
| wakes per room-hour at the default (120 s) | ${fmt(idle.wakesPerRoomHourAtDefault, 1)} |
| runtime CPU per run (wake + sweep), above the pings' own, ms | ${fmt(idle.cpuPerRunMs, 1)} |
| runtime CPU per room-hour at the default, ms | ${fmt(idle.cpuMsPerRoomHourAtDefault)} |
| the pings' runtime CPU, ms per second (baseline, subtracted) | ${fmt(idle.baselineCpuMsPerSecond, 1)} |
| a dead client's join to its \`left\`, ms at ${t} s (median of ${idle.ghostsLeft}/${idle.ghosts}) | ${fmt(idle.toLeftMs)} |
| the same in timeouts | ${fmt(idle.toLeftInTimeouts, 2)} |
| the same at the default, s | ${fmt(idle.toLeftAtDefaultS)} |`;
}

/** A section (from its "## " heading to the next) of the previous report. */
function kept(previous, heading, fallback) {
  const start = previous.indexOf(`\n## ${heading}\n`);
  if (start < 0) return fallback;
  const rest = previous.slice(start + 1);
  const end = rest.indexOf("\n## ", 4);
  return (end < 0 ? rest : rest.slice(0, end)).trimEnd();
}

export function versions() {
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { cwd: root, encoding: "utf8" }).trim();
    } catch {
      return "?";
    }
  };
  const pkg = (name) =>
    JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;
  const cargo = readFileSync(join(root, "Cargo.toml"), "utf8");
  return {
    node: process.version,
    wrangler: pkg("wrangler"),
    workerd: pkg("workerd"),
    ws: pkg("ws"),
    rustc: run("rustc", ["--version"]),
    wasmBindgen: /wasm-bindgen = "=?([^"]+)"/.exec(cargo)?.[1] ?? "?",
    commit: run("git", ["rev-parse", "--short", "HEAD"]),
    fdLimit: run("bash", ["-c", "ulimit -n $(ulimit -Hn) 2>/dev/null; ulimit -n"]),
  };
}

/**
 * The report's Markdown. `run`: {mode ("full", "smoke", "subset"), date,
 * seconds, settings, variants, ran(w), runs, orders, judged, size, budget,
 * micro, failures, previous (the last bench/RESULTS.md, for its kept sections)}.
 */
export function markdown(run) {
  const { mode, settings: s, runs, judged, size, micro, idle, sharded, failures } = run;
  const v = versions();
  const full = mode === "full";
  const history = `- ${run.date} UTC, ${mode}, ${runs.length} round(s) rotated, commit ${v.commit}: ${[
    ...judged.map((t) => `${t.short} ${fmt(t.pool.ratio, 2)}`),
    ...shardVerdicts(sharded, SHARD_TARGET).map((v) => `w10 ${v.shards}/1 ${fmt(v.ratio, 2)}`),
    size && `wasm ${kib(size.wasmRaw)} / ${kib(size.wasmGzip)} gzip`,
  ]
    .filter(Boolean)
    .join("; ")}`;
  const wakes = runs.flatMap((round, i) =>
    Object.entries(round)
      .filter(([, res]) => res.w5)
      .map(([k, { w5 }]) => `round ${i + 1} ${k} ${w5.woke}/${w5.rooms}`),
  );
  const ramp = rampNotes(runs, s.w4.fronts || 1);
  return `# Benchmark results

Written by \`npm run bench${mode === "smoke" ? " -- --smoke" : ""}\` on ${run.date} UTC in ${fmt(run.seconds)} s${
    full
      ? `. Do not edit by hand, except the sections "Findings" and "History",
which the script keeps.`
      : ` (${mode === "smoke" ? "a smoke run: tiny sizes, its figures mean nothing" : `a subset: ${run.subset}`}).`
  }

- Machine: ${cpus()[0]?.model ?? "?"} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}; descriptor limit ${v.fdLimit}
- Versions: Node ${v.node}, wrangler ${v.wrangler}, workerd ${v.workerd}, ws ${v.ws}, ${v.rustc}, wasm-bindgen ${v.wasmBindgen}; commit ${v.commit}
- Rounds: ${runs.length}, the order of the variants rotated each round (A B C H, B C H A, …); every variant gets a fresh \`wrangler dev\` on 127.0.0.1
- Sizes: workload 1 ${s.w1.clients} clients × ${s.w1.frames} frames; workload 2 ${s.w2.clients} clients × ${s.w2.frames} \`say\` (${fmt(s.w2.clients ** 2 * s.w2.frames)} deliveries); workload 3 ${fmt(s.w3.count)} sockets × ${s.w3.repeats} frames; workload 4 up to ${fmt(s.w4.target)} sockets in ${s.w4.capMs / 1000} s through ${s.w4.fronts} front(s); workload 5 ${s.w5.rooms} room(s) × ${s.w5.warm} warm round trips, ${s.w5.idleMs / 1000} s idle, one wake per room (a round's figure is the median of its confirmed wakes); workload 8 (A only, once) ${fmt(s.w8.rooms)} rooms over ${s.w8.windowMs / 1000} s and ${s.w8.ghosts} dead client(s); workload 9 (A only) ${s.w9.fill} messages, then ${s.w9.missed} missed by a dropped listener that resumes; workload 10 (A only, once) ${fmt(s.w10.sockets)} sockets on ${s.w10.shards.join(", ")} shards, a hop and the sequencer with ${s.w10.spans.join(", ")} shards

## Targets

Each target is a ratio A/X computed within each round (the variants of
a round share the machine's load), pooled over the rounds as their geometric
mean, with a 90 % interval from their spread (Student's t on the logarithms);
a difference A − X (in ms) is pooled as the mean of the rounds' differences.
"Not settled": the interval reaches across the limit, so more rounds could
change the verdict.

${[
  ...judged.map(verdictLine),
  ...shardLines(sharded, SHARD_TARGET),
  size && sizeLine(size, run.budget),
]
  .filter(Boolean)
  .map((line) => `- ${line}`)
  .join("\n")}
${failures.length ? `\nFailures:\n${failures.map((f) => `- ${f}`).join("\n")}\n` : ""}
### Each round's ratios

${roundsTable(judged, run.orders)}

## Figures

Median (min–max) over rounds; A/X is computed within each round.

${figures(
  runs,
  s,
  run.ran,
  Object.keys(run.variants).filter((k) => runs.some((round) => round[k])),
)}

![throughput and latency per variant](chart.svg)
${ramp ? `\nWorkload 4 (see README, Benchmarks, for the fronts and the descriptor guard):\n${ramp}\n` : ""}${wakes.length ? `\nWorkload 5, confirmed wakes (a new instance after the idle) of rooms woken: ${wakes.join(", ")}.\n` : ""}
### Sizes (workload 7)

${
  size
    ? `| | raw | gzip |
|---|---:|---:|
| A \`pkg/core_bg.wasm\` | ${kib(size.wasmRaw)} | ${kib(size.wasmGzip)} |
${Object.entries(size.bundles)
  .map(
    ([k, b]) =>
      `| ${run.variants[k].label}: \`wrangler deploy --dry-run\` bundle | ${kib(b.raw)} | ${kib(b.gzip)} |`,
  )
  .join("\n")}`
    : "(not run)"
}

### The idle reaper (workload 8, A only)

${idleTable(idle, s.w8)}

### Rooms on several objects (workload 10, A only)

${shardTables(sharded, s.w10)}

### The Wasm boundary, per call (bench/boundary.mjs, Node ${v.node})

${micro ? `| µs per call | what |\n|---:|---|\n${micro.map(({ what, us }) => `| ${us.toFixed(2)} | ${what} |`).join("\n")}` : "(not run)"}

## Variants

- **A** is the project as deployed: \`npm run build\` (no test hooks), \`js/index.ts\` with the
  project's \`wrangler.jsonc\` minus its \`build\` step, and the bench's limits as \`vars\`
  (\`BENCH_VARS\` in bench/lib/server.mjs) so no workload is capped or rate-limited.
- **B** (\`bench/ts-reference/\`) is the seed in plain TypeScript, same replies and close
  handling as A's \`/websocket\`; its rooms are the least that matches A's \`say\`: an attachment
  \`{id, name}\` read back per frame, \`JSON.parse\`, a check, \`{"type":"message",…}\` sent to
  \`getWebSockets("room")\`. No welcome, joined or left frames.
- **C** (\`bench/raw-echo/\`) is the ceiling: \`ws.send(message)\` on \`/websocket\`; in a room the
  frame goes unchanged to \`getWebSockets("room")\`.
- **H** is A with \`HISTORY_LIMIT=0\` (no history: no SQL, no \`seq\`), run for workloads 2
  and 5 only, in the same rounds as A: the cost of storing every message before it is sent,
  in a busy room and on the first \`say\` after a wake.
  Workload 9 (A only) measures the history itself.
- All three answer \`GET /rooms/{room}\` with \`instance_started_at\` (workload 5 confirms its
  wakes with it). Workloads 2–5 use a fresh room each; workload 4 is last, its sockets are
  dropped by stopping the server.
${
  full
    ? `
${kept(run.previous, "Findings", "## Findings\n\n(not written yet)")}

${kept(run.previous, "History", "## History\n\nOne line per run of `npm run bench`, newest last.\n")}
${history}
`
    : ""
}`;
}

/** An SVG bar chart of workloads 1 and 2: bars the median, whiskers min–max. */
export function chart(runs, variants) {
  const panels = [
    ["w1", "throughput", "1 ping-pong, frames/s"],
    ["w1", "p50", "1 ping-pong, p50 ms"],
    ["w1", "p99", "1 ping-pong, p99 ms"],
    ["w2", "throughput", "2 broadcast, frames/s"],
    ["w2", "p50", "2 broadcast, p50 ms"],
    ["w2", "p99", "2 broadcast, p99 ms"],
  ];
  const [W, H, cols] = [260, 200, 3];
  const height = H * Math.ceil(panels.length / cols) + 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * cols}" height="${height}" font-family="sans-serif" font-size="11" role="img">`,
    "<title>npm run bench: throughput and p50/p99 latency per variant (median, whiskers min–max)</title>",
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  panels.forEach(([w, field, title], i) => {
    const x0 = (i % cols) * W;
    const base = Math.floor(i / cols) * H + H - 30;
    const stats = Object.keys(variants)
      .filter((k) => runs.some((round) => round[k]?.[w]))
      .map((k) => [k, summary(series(runs, k, w, field))]);
    const top = Math.max(...stats.map(([, s]) => s.max).filter(Number.isFinite), 1e-9) * 1.15;
    const y = (value) => base - Math.round((10 * (H - 70) * value) / top) / 10;
    parts.push(
      `<text x="${x0 + W / 2}" y="${base - H + 48}" text-anchor="middle" font-weight="bold">${title}</text>`,
      `<line x1="${x0 + 20}" y1="${base}" x2="${x0 + W - 20}" y2="${base}" stroke="#333"/>`,
    );
    stats.forEach(([k, s], j) => {
      const bx = x0 + 35 + j * 55;
      if (Number.isFinite(s.median)) {
        parts.push(
          `<rect x="${bx}" y="${y(s.median)}" width="40" height="${base - y(s.median)}" fill="${COLORS[k]}"/>`,
          `<line x1="${bx + 20}" y1="${y(s.min)}" x2="${bx + 20}" y2="${y(s.max)}" stroke="#000"/>`,
          `<text x="${bx + 20}" y="${y(s.median) - 5}" text-anchor="middle">${fmt(s.median, s.median < 10 ? 2 : 0)}</text>`,
        );
      }
      parts.push(`<text x="${bx + 20}" y="${base + 14}" text-anchor="middle">${k}</text>`);
    });
  });
  Object.entries(variants).forEach(([k, { label }], j) => {
    if (!runs.some((round) => round[k]?.w1 || round[k]?.w2)) return;
    parts.push(
      `<rect x="${10 + j * 150}" y="${height - 20}" width="10" height="10" fill="${COLORS[k]}"/><text x="${24 + j * 150}" y="${height - 11}">${label}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
