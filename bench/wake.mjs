// `node bench/wake.mjs [--rounds N] [--rooms K] [--warm W] [--idle MS]
//   [--variants A,A@before,B,C,…] [--separate] [--load] [--label NAME]`:
// where the first reply after an eviction spends its time (workload 5 of
// `npm run bench`, taken apart). Never part of `npm test`; run it with the
// project's Node (`npx node bench/wake.mjs …`).
//
// By default one `wrangler dev` per round serves every variant at once, each as
// its own Durable Object class of one generated Worker (bench/out/wake/gen/), so
// the variants share the machine's load and are interleaved room by room. Per
// round and variant, K rooms each get one socket and W warm round trips; then
// every room idles past wrangler dev's eviction (10 s), and the rooms are woken
// one at a time, 250 ms apart, by a `say` frame: the time to its reply is the
// wake figure, the stats request after it confirms the instance is new
// (`instance_started_at` after the idle began). Times are taken by the client:
// inside workerd the clock does not move during synchronous code. The table
// also gives each wake minus C's wake of the same pass, which cancels most of
// the drift of a shared machine's load.
//
// `--separate` gives each variant its own `wrangler dev` (as `npm run bench`
// does), `--load` runs the bench's workloads 1 and 2 during the idle.
//
// Variants (see A_VARIANTS, C_VARIANTS): A is js/index.ts with pkg/; `A-x` is A
// with one constructor step removed or changed; a suffix `@before` takes the
// source and build saved in bench/out/wake/before/ (index.ts, pkg/) instead:
// the `A-x` steps match the constructor as it was before the wake record was
// deferred (commit 5bd3250), so use them as `A-x@before` (only `A-noauto` also
// applies to the current source). P (--separate only) is the project with its
// own wrangler.jsonc, exactly as the bench serves A.
// B and C are bench/ts-reference and bench/raw-echo; `C-x` is C with one
// storage step added to its constructor, to price that step alone.
//
// Each `wrangler dev` is started under `flock /tmp/wrangler.lock` (one dev
// server on the machine at a time); traffic goes to 127.0.0.1 only.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { percentile, pingPong, roomBroadcast, sleep, wakeRoom } from "./client.mjs";
import { startServer } from "./server.mjs";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "bench/out/wake");
const gen = join(out, "gen");
const PORT = 8811;
const INSPECTOR = 9311;
const HTTP = `http://127.0.0.1:${PORT}`;
const WS = `ws://127.0.0.1:${PORT}`;

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rounds = Number(option("rounds", 3));
const roomsPerVariant = Number(option("rooms", 5));
const warm = Number(option("warm", 10));
const idleMs = Number(option("idle", 12_000));
const label = option("label", "wake");
const separate = args.includes("--separate");
const load = args.includes("--load");
const chosen = option("variants", "A,A-noauto,B,C,C-get,C-getput").split(",");

// ---- variants ----

const PUT = "ctx.storage.kv.put(WAKES_KEY, this.wakes);";
const GET = "ctx.storage.kv.get(WAKES_KEY)";
const AUTO = /ctx\.setWebSocketAutoResponse\([^;]*\);/;

/** A's variants: replacements applied to js/index.ts (each must match). */
const A_VARIANTS = {
  A: [],
  /** No write of the wake record (the read stays). */
  "A-noput": [[PUT, ""]],
  /** No storage at all: the room starts from no wake record, nothing is written. */
  "A-nostore": [
    [GET, "undefined"],
    [PUT, ""],
  ],
  /** The write with the async API and `allowUnconfirmed` (does not hold the output gate). */
  "A-unconfirmed": [
    [PUT, "void ctx.storage.put(WAKES_KEY, this.wakes, { allowUnconfirmed: true });"],
  ],
  /** The write in a later task (after the first event's replies), still with the sync API. */
  "A-later": [[PUT, "setTimeout(() => ctx.storage.kv.put(WAKES_KEY, this.wakes), 0);"]],
  /** The write in a later task, with the async API and `allowUnconfirmed`. */
  "A-laterunconfirmed": [
    [
      PUT,
      "setTimeout(() => void ctx.storage.put(WAKES_KEY, this.wakes, { allowUnconfirmed: true }), 0);",
    ],
  ],
  /** No `setWebSocketAutoResponse` in the constructor. */
  "A-noauto": [[AUTO, ""]],
};

/** C's variants: a constructor step added to the raw echo. */
const C_VARIANTS = {
  C: "",
  /** Reads one key with the sync KV API. */
  "C-get": `ctx.storage.kv.get("wakes");`,
  /** Reads and writes one key with the sync KV API (what A's constructor does). */
  "C-getput": `const w = ctx.storage.kv.get<{ count: number }>("wakes");
    ctx.storage.kv.put("wakes", { count: (w?.count ?? 0) + 1 });`,
  /** Reads, then writes with the async API and allowUnconfirmed. */
  "C-getunconfirmed": `const w = ctx.storage.kv.get<{ count: number }>("wakes");
    void ctx.storage.put("wakes", { count: (w?.count ?? 0) + 1 }, { allowUnconfirmed: true });`,
};

function baseOf(variant) {
  const [name, base = "current"] = variant.split("@");
  if (base === "current")
    return { name, source: join(root, "js/index.ts"), pkg: join(root, "pkg") };
  const dir = join(out, base);
  if (!existsSync(join(dir, "index.ts"))) throw new Error(`no saved base ${dir}/index.ts`);
  return { name, source: join(dir, "index.ts"), pkg: join(dir, "pkg") };
}

/** Writes `dir` (under bench/out/wake/gen/): one module per A variant, the entry, wrangler.json. */
function generate(variants, dir = gen) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const imports = [];
  const exports = [];
  const extra = [];
  variants.forEach((variant, i) => {
    const cls = `Wake${i}`;
    if (variant === "B") {
      imports.push(
        `import { TsReference as ${cls} } from "${relative(dir, join(root, "bench/ts-reference/index.ts"))}";`,
      );
    } else if (variant.startsWith("C")) {
      if (!(variant in C_VARIANTS)) throw new Error(`unknown variant ${variant}`);
      if (!imports.some((line) => line.includes("RawEcho"))) {
        imports.push(
          `import { RawEcho } from "${relative(dir, join(root, "bench/raw-echo/index.ts"))}";`,
        );
      }
      extra.push(
        `class ${cls} extends RawEcho {
  constructor(ctx: DurableObjectState, env: never) {
    super(ctx, env);
    ${C_VARIANTS[variant]}
  }
}`,
      );
    } else {
      const { name, source, pkg } = baseOf(variant);
      const replacements = A_VARIANTS[name];
      if (replacements === undefined) throw new Error(`unknown variant ${variant}`);
      let text = readFileSync(source, "utf8");
      for (const [from, to] of replacements) {
        const next = text.replace(from, to);
        if (next === text) throw new Error(`${variant}: ${from} not found in ${source}`);
        text = next;
      }
      const pkgPath = relative(dir, pkg);
      text = text
        .replaceAll('"../pkg/', `"${pkgPath}/`)
        .replace("export class WebSocketHibernationServer", `export class ${cls}`)
        .replace(/export default \{[\s\S]*?satisfies ExportedHandler<Env>;/, "");
      writeFileSync(join(dir, `a${i}.ts`), text);
      imports.push(`import { ${cls} } from "./a${i}.ts";`);
    }
    exports.push(cls);
  });
  const entry = `// Generated by bench/wake.mjs: every variant as its own Durable Object class.
${imports.join("\n")}

${extra.join("\n\n")}

export { ${exports.join(", ")} };

let hits = 0;
const ROOM = /^\\/rooms\\/v(\\d+)\\.[A-Za-z0-9._-]+(\\/websocket)?$/;

export default {
  async fetch(request: Request, env: Record<string, DurableObjectNamespace>): Promise<Response> {
    const url = new URL(request.url);
    // Module state survives as long as the isolate: a count that restarts means a new isolate.
    if (url.pathname === "/_isolate") return Response.json({ hits: ++hits });
    // Rooms named v<i>.… go to variant i; other rooms and /websocket (the
    // bench's load in --separate mode) to variant 0.
    const match = ROOM.exec(url.pathname);
    const room = url.pathname.startsWith("/rooms/") ? url.pathname.split("/")[2] : "foo";
    return env[\`NS\${match ? match[1] : 0}\`].getByName(room).fetch(request);
  },
};
`;
  writeFileSync(join(dir, "entry.ts"), entry);
  const config = {
    name: "bench-wake",
    main: "entry.ts",
    compatibility_date: "2026-08-22",
    compatibility_flags: ["web_socket_manual_reply_to_close"],
    durable_objects: {
      bindings: exports.map((cls, i) => ({ name: `NS${i}`, class_name: cls })),
    },
    migrations: [{ tag: "v1", new_sqlite_classes: exports }],
  };
  writeFileSync(join(dir, "wrangler.json"), JSON.stringify(config, null, 2));
  return join(dir, "wrangler.json");
}

// ---- the dev server ----

/** Waits for the server (and for the lock, while another dev server runs). */
async function ready(server) {
  const start = performance.now();
  while (performance.now() - start < 900_000) {
    if (server.child.exitCode !== null) throw new Error(`wrangler dev exited:\n${server.output()}`);
    try {
      const response = await fetch(`${HTTP}/_isolate`);
      // The project (variant P) answers 400 here: it is up, without the probe.
      if (response.ok) return (await response.json()).hits;
      if (response.status === 400) return null;
    } catch {
      // not yet
    }
    await sleep(200);
  }
  throw new Error(`wrangler dev not ready:\n${server.output()}`);
}

// ---- one round ----

/** A room with one socket; `roundTrip()` sends a `say` and times its echo. */
const openRoom = (room) => wakeRoom(WS, room, '{"type":"say","text":"wake"}', '"wake"');

async function round(r, variants) {
  const rooms = [];
  for (let k = 0; k < roomsPerVariant; k++) {
    // A new order in each pass, so no variant is always first after the idle.
    const order = variants.map((_, i) => i).sort(() => Math.random() - 0.5);
    for (const i of order) rooms.push({ variant: variants[i], pass: k, name: `v${i}.r${r}.k${k}` });
  }
  for (const entry of rooms) {
    Object.assign(entry, await openRoom(entry.name));
    entry.warm = [];
    for (let w = 0; w < warm; w++) entry.warm.push(await entry.roundTrip());
    entry.idleFrom = Date.now();
  }
  if (load) {
    // Workload 5 of the bench idles while workloads 1 and 2 load other objects.
    await pingPong(WS, { clients: 32, frames: 300, capMs: 30_000 });
    await roomBroadcast(WS, { clients: 16, frames: 50, capMs: 30_000 });
  }
  for (const entry of rooms) {
    await sleep(Math.max(0, entry.idleFrom + idleMs - Date.now()));
    entry.first = await entry.roundTrip();
    entry.second = await entry.roundTrip();
    const stats = await (await fetch(`${HTTP}/rooms/${entry.name}`)).json();
    entry.woke = Number(stats.instance_started_at) >= entry.idleFrom;
    entry.socket.terminate();
    await sleep(250);
  }
  return rooms.map(({ variant, pass, warm: w, first, second, woke }) => ({
    variant,
    pass,
    warm: w,
    first,
    second,
    woke,
  }));
}

// ---- main ----

const median = (values) => percentile(values, 50);
const cell = (values, digits = 1) =>
  values.length === 0
    ? "–"
    : `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;

/**
 * Variant P (--separate only): the project exactly as `npm run bench` serves A,
 * its own wrangler.jsonc (assets, observability) minus the build step.
 */
function projectConfig() {
  const text = readFileSync(join(root, "wrangler.jsonc"), "utf8")
    .split("\n")
    .filter((line) => !line.trim().startsWith("//"))
    .join("\n");
  const config = JSON.parse(text);
  delete config.build;
  delete config.$schema;
  const dir = join(gen, "project");
  mkdirSync(dir, { recursive: true });
  config.main = relative(dir, join(root, config.main));
  config.assets.directory = relative(dir, join(root, config.assets.directory));
  writeFileSync(join(dir, "wrangler.json"), JSON.stringify(config, null, 2));
  return join(dir, "wrangler.json");
}

// One server for all variants, or (--separate, as `npm run bench` does) one
// server per variant, the variants in a new order each round.
const servers = separate
  ? chosen.map((variant, i) => ({
      variants: [variant],
      config: variant === "P" ? projectConfig() : generate([variant], join(gen, `s${i}`)),
    }))
  : [{ variants: chosen, config: generate(chosen) }];
const samples = [];
const isolate = [];
for (let r = 1; r <= rounds; r++) {
  for (const { variants, config } of [...servers].sort(() => Math.random() - 0.5)) {
    const server = startServer(config, { port: PORT, inspector: INSPECTOR, lock: true });
    try {
      const hits = await ready(server);
      console.error(`[wake] round ${r}/${rounds} ${variants.join(",")}: server ready`);
      samples.push(...(await round(r, variants)).map((s) => ({ ...s, round: r })));
      isolate.push({ round: r, hitsBefore: hits, hitsAfter: await ready(server) });
    } catch (error) {
      console.error(
        `[wake] round ${r} failed: ${error?.stack ?? error}\n${server.output().slice(-2_000)}`,
      );
    } finally {
      await server.stop();
    }
  }
}
writeFileSync(join(out, `${label}.json`), JSON.stringify({ chosen, samples, isolate }, null, 2));

// Ratio per sample: the first reply ÷ the warm p50 of the same variant in the same round.
const warmP50 = new Map();
for (const variant of chosen) {
  for (let r = 1; r <= rounds; r++) {
    const warmTimes = samples
      .filter((s) => s.variant === variant && s.round === r)
      .flatMap((s) => s.warm);
    warmP50.set(`${variant} ${r}`, median(warmTimes));
  }
}
const lines = [
  `wake experiment "${label}": ${rounds} round(s) × ${roomsPerVariant} room(s) per variant, ${warm} warm round trips, ${idleMs / 1000} s idle; ${separate ? "one server per variant" : "one server for all variants"}${load ? ", workloads 1 and 2 during the idle" : ""}`,
  "",
  "| variant | wakes (confirmed) | warm p50 ms | first reply after eviction ms | 25th pct | second reply ms | first ÷ warm p50 | first − C's, same pass ms |",
  "|---|---:|---:|---:|---:|---:|---:|---:|",
];
// The load on a shared machine drifts: each variant's wake is also compared
// with C's wake of the same pass (all variants are woken within a few seconds).
const cFirst = new Map(
  samples.filter((s) => s.variant === "C" && s.woke).map((s) => [`${s.round} ${s.pass}`, s.first]),
);
for (const variant of chosen) {
  const mine = samples.filter((s) => s.variant === variant);
  const woke = mine.filter((s) => s.woke);
  const warms = [...new Set(mine.map((s) => s.round))].map((r) => warmP50.get(`${variant} ${r}`));
  const firsts = woke.map((s) => s.first);
  const ratios = woke.map((s) => s.first / warmP50.get(`${variant} ${s.round}`));
  const paired = woke
    .filter((s) => cFirst.has(`${s.round} ${s.pass}`))
    .map((s) => s.first - cFirst.get(`${s.round} ${s.pass}`));
  const row = [
    variant,
    `${mine.length} (${woke.length})`,
    cell(warms, 2),
    cell(firsts),
    percentile(firsts, 25).toFixed(1),
    cell(
      woke.map((s) => s.second),
      2,
    ),
    cell(ratios),
    cell(paired),
  ];
  lines.push(`| ${row.join(" | ")} |`);
}
lines.push(
  "",
  `isolate (Worker fetch count before/after each round; a reset would mean a new isolate): ${isolate.map((i) => `${i.hitsBefore}→${i.hitsAfter}`).join(", ")}`,
);
console.log(lines.join("\n"));
process.exit(0);
