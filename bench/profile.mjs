// Where the CPU goes inside workerd, per frame and per join: this project (A:
// js/index.ts + the Rust core in pkg/) against the plain-TS seed (B:
// bench/ts-reference/), with fixed workloads from this process (the `ws`
// package, 127.0.0.1 only).
//
//   npx node bench/profile.mjs [--variant A,B] [--workload echo,broadcast,join,join-at,micro]
//                              [--rounds 3] [--hz 10000] [--dev-tooling] [--keep DIR] [--top 12]
//                              [--v8-flags "--no-turbo-inlining --no-maglev-inlining"]
//
// One `wrangler dev` (under `flock /tmp/wrangler-dev.lock`) serves
// bench/profile-worker.ts: A's and B's Workers and Durable Objects side by
// side in one workerd (a header picks B), so that A and B take turns seconds
// apart under the same machine load, plus a scratch object for `micro`.
//
// Method. `perf record -e cpu-clock -g` samples the workerd process that runs
// the Worker while a workload runs; V8 writes /tmp/perf-<pid>.map
// (`--perf-basic-prof`, passed through miniflare's MINIFLARE_WORKERD_V8_FLAGS)
// so JavaScript and Wasm frames have names (Rust names: the Wasm is rebuilt
// with its name section, same code), and the bundle's `// module` comments
// tell which source file a JavaScript frame is in. Each sample of the
// isolate's thread is charged to one category: the innermost frame of the
// project (a Wasm function, pkg/core.js, js/index.ts, bench/ts-reference) or
// the runtime call it made ("call: ws.send", "call: JSON.parse"…), or, with
// no project frame on the stack, the runtime's own work ("runtime: …":
// dispatch, socket I/O, kernel, GC). Inclusive rows ("incl.: …") count
// samples with a given frame anywhere on the stack. A sample is 1/hz s of
// CPU, so the figures are CPU time of the isolate's thread (cross-checked
// against /proc/<pid>/task/<tid>/schedstat). V8's own CPU profile (through
// the inspector) was tried first and dropped: its samples are wall-clock, and
// on a loaded machine it charged preemption to whatever ran last (B's handler
// came out at more JavaScript time than its whole process used in CPU).
// perf needs perf_event_open (root, or kernel.perf_event_paranoid ≤ 1).
//
// wrangler's local observability collector (a tail Worker in the same workerd
// that writes every event to SQLite) and the local explorer are switched off
// (X_LOCAL_OBSERVABILITY=false, X_LOCAL_EXPLORER=false) unless --dev-tooling:
// they are not in production and cost more per frame than either variant.
//
// `micro` times single runtime and boundary calls in a loop inside the
// scratch object, by the isolate thread's CPU time: hot-loop costs, a lower
// bound for the same call in the middle of real traffic.
import { execFileSync, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import WebSocket from "ws";

const root = new URL("..", import.meta.url).pathname;
const wrangler = join(root, "node_modules/.bin/wrangler");
const LOCK = "/tmp/wrangler-dev.lock";
/** As bench/boundary.mjs: A neither caps the room nor rate-limits the workloads. */
const BENCH_VARS = {
  MAX_CONNECTIONS_PER_ROOM: "32768",
  RATE_LIMIT_PER_SECOND: "1000000",
  RATE_LIMIT_BURST: "1000000",
};

/** The two variants: one Worker serves both; B's requests carry `x-variant: b`. */
const VARIANTS = {
  A: { label: "A: this project", headers: {} },
  B: { label: "B: TS seed", headers: { "x-variant": "b" } },
  // A control: B measured as a second variant, to check that taking turns is fair (B2/B ≈ 1).
  B2: { label: "B again (control)", headers: { "x-variant": "b" } },
};
/** What bench/profile-worker.ts imports, copied by `stage`: files, and directories whole. */
const SOURCES = ["bench/profile-worker.ts", "js", "bench/ts-reference", "pkg/core.js"];

// ---------------------------------------------------------------- arguments

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const list = (value) => value.split(",").map((x) => x.trim());
const variants = list(option("variant", "A,B").toUpperCase());
const workloads = list(option("workload", "echo,broadcast,join,join-at"));
const rounds = Number(option("rounds", 3));
const hz = Number(option("hz", 10_000));
const devTooling = args.includes("--dev-tooling");
const keep = option("keep", undefined);
/** How many of each variant's costliest functions to list per workload. */
const top = Number(option("top", 12));
/** More V8 flags, e.g. "--no-turbo-inlining --no-maglev-inlining" to keep callees apart. */
const v8Flags = option("v8-flags", "");
const SIZES = {
  echo: { clients: Number(option("clients", 50)), frames: Number(option("frames", 200)) },
  broadcast: { clients: Number(option("room", 100)), frames: Number(option("says", 10)) },
  join: { count: Number(option("joins", 1000)) },
  "join-at": { at: Number(option("joins", 1000)), count: 200 },
};
const WARMUP = {
  echo: { clients: 10, frames: 100 },
  broadcast: { clients: 20, frames: 10 },
  join: { count: 100 },
  "join-at": { at: 100, count: 50 },
};
for (const v of variants) {
  if (!VARIANTS[v]) throw new Error(`--variant ${v}: A, B or B2 (B again, a control)`);
}
for (const w of workloads) {
  if (!["echo", "broadcast", "join", "join-at", "micro"].includes(w)) {
    throw new Error(`--workload ${w}: echo, broadcast, join, join-at or micro`);
  }
}

const log = (...parts) =>
  console.error(`[profile ${new Date().toISOString().slice(11, 19)}]`, ...parts);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------- the dev server

/** A free TCP port on 127.0.0.1 (another session's `wrangler dev` may hold any fixed one). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A copy of bench/profile-worker.ts, the sources it imports and pkg/ in
 * `dir`, with pkg/core_bg.wasm replaced by the same module carrying its name
 * section (see namedWasm), so that Wasm frames have Rust names. Returns the
 * entry's path.
 */
function stage(dir) {
  for (const path of SOURCES) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    cpSync(join(root, path), join(dir, path), { recursive: true });
  }
  writeFileSync(join(dir, "pkg/core_bg.wasm"), namedWasm(dir));
  return join(dir, SOURCES[0]);
}

/**
 * pkg/core_bg.wasm with Rust function names: the release build in target/
 * through wasm-bindgen and wasm-opt again, once as scripts/build.mjs does
 * (which must reproduce pkg/core_bg.wasm byte for byte, proving target/ is
 * the same build) and once with `-g`, which keeps the name section and
 * changes no code. Falls back to pkg/core_bg.wasm (frames then read
 * `wasm-function[N]`).
 */
function namedWasm(dir) {
  const pkgWasm = readFileSync(join(root, "pkg/core_bg.wasm"));
  const built = join(
    root,
    "target/wasm32-unknown-unknown/release/websocket_hibernation_server.wasm",
  );
  const out = join(dir, "named");
  const optFlags = [
    "-Oz",
    "--converge",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
  ];
  try {
    execFileSync("wasm-bindgen", [
      built,
      "--target",
      "web",
      "--out-dir",
      out,
      "--out-name",
      "core",
    ]);
    const opt = join(root, "node_modules/.bin/wasm-opt");
    execFileSync(opt, [...optFlags, join(out, "core_bg.wasm"), "-o", join(out, "plain.wasm")]);
    if (!readFileSync(join(out, "plain.wasm")).equals(pkgWasm)) {
      throw new Error("target/ is not the build in pkg/ (run `npm run build`)");
    }
    execFileSync(opt, [
      ...optFlags,
      "-g",
      join(out, "core_bg.wasm"),
      "-o",
      join(out, "named.wasm"),
    ]);
    return readFileSync(join(out, "named.wasm"));
  } catch (error) {
    log(`no Rust names for Wasm frames: ${String(error.message ?? error).split("\n")[0]}`);
    return pkgWasm;
  }
}

/**
 * Starts `wrangler dev` for bench/profile-worker.ts under the machine's lock
 * (same date and flags as the project and B); resolves once it answers HTTP.
 */
async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "profile-"));
  const name = "profile";
  // The project's wrangler.jsonc (its bindings, date and flags), without the
  // build step and the assets, with B's and the scratch object's classes added.
  const config = JSON.parse(
    readFileSync(join(root, "wrangler.jsonc"), "utf8")
      .split("\n")
      .filter((line) => !line.trim().startsWith("//"))
      .join("\n"),
  );
  for (const key of ["$schema", "build", "assets", "observability"]) delete config[key];
  const more = { SERVER: "TsReference", SCRATCH: "Scratch" };
  config.name = name;
  config.main = stage(dir);
  config.durable_objects.bindings.push(
    ...Object.entries(more).map(([binding, className]) => ({
      name: binding,
      class_name: className,
    })),
  );
  config.migrations.push({ tag: "profile", new_sqlite_classes: Object.values(more) });
  config.vars = { ...config.vars, ...BENCH_VARS };
  writeFileSync(join(dir, "wrangler.json"), JSON.stringify(config, null, 2));
  const [port, inspector] = [await freePort(), await freePort()];
  const command = [
    "ulimit -n $(ulimit -Hn) 2>/dev/null;",
    `exec flock ${LOCK}`,
    JSON.stringify(wrangler),
    `dev --config ${JSON.stringify(join(dir, "wrangler.json"))}`,
    `--ip 127.0.0.1 --port ${port} --inspector-port ${inspector}`,
    `--persist-to ${JSON.stringify(join(dir, "state"))}`,
    "--show-interactive-dev-session=false --log-level warn",
  ].join(" ");
  const child = spawn("bash", ["-c", command], {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      CI: "1",
      WRANGLER_SEND_METRICS: "false",
      MINIFLARE_WORKERD_V8_FLAGS:
        `--perf-basic-prof --interpreted-frames-native-stack ${v8Flags}`.trim(),
      ...(devTooling ? {} : { X_LOCAL_OBSERVABILITY: "false", X_LOCAL_EXPLORER: "false" }),
    },
  });
  let output = "";
  const keepOutput = (chunk) => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout.on("data", keepOutput);
  child.stderr.on("data", keepOutput);
  let workerd;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      const signal = (s) => {
        try {
          process.kill(-child.pid, s);
        } catch {
          // gone
        }
      };
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    for (const pid of workerd?.all ?? []) rmSync(`/tmp/perf-${pid}.map`, { force: true });
    rmSync(dir, { recursive: true, force: true });
    await sleep(500);
  };
  // flock may wait for another session's dev server: allow 20 minutes. The
  // port is only probed once this process tree runs a workerd of its own.
  const end = performance.now() + 1_200_000;
  while (performance.now() < end) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
    if (/Build failed|failed to start/.test(output)) {
      await stop();
      throw new Error(`wrangler dev failed:\n${output}`);
    }
    workerd = findWorkerd(child.pid);
    if (workerd.user !== undefined) {
      const status = await httpStatus(`http://127.0.0.1:${port}/nothing-here`).catch(() => 0);
      if (status > 0) return { child, stop, name, port, dir, workerd, output: () => output };
    }
    await sleep(500);
  }
  await stop();
  throw new Error(`wrangler dev did not answer:\n${output}`);
}

function httpGet(url, timeoutMs = 300_000) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.end();
  });
}
const httpStatus = async (url) => (await httpGet(url, 2_000)).status;

// ---------------------------------------------------------------- processes

/** The processes under `pid`, itself included. */
function descendants(pid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // gone
    }
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/**
 * The workerd processes under `rootPid`; `user` is the one that runs the
 * Worker: the one with an inspector (wrangler's ProxyWorker runs in another).
 */
function findWorkerd(rootPid) {
  const read = (p, file) => {
    try {
      return readFileSync(`/proc/${p}/${file}`, "utf8");
    } catch {
      return "";
    }
  };
  const all = descendants(rootPid).filter((p) => read(p, "comm").trim() === "workerd");
  const user = all.find((p) => read(p, "cmdline").includes("--inspector-addr"));
  return { all, user };
}

/** ns of CPU a thread has run (/proc/…/schedstat: exact, unlike the tick counts of stat). */
function threadCpuNs(pid, tid = pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return Number.NaN;
  }
}

/** ns of CPU of all of a process's threads. */
function processCpuNs(pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) total += threadCpuNs(pid, tid) || 0;
  return total;
}

// ---------------------------------------------------------------- perf

/** Starts `perf record` on `pid`; `stop()` ends it and resolves with the data file. */
async function record(pid, file) {
  const child = spawn(
    "perf",
    ["record", "-e", "cpu-clock", "-F", String(hz), "-g", "-p", String(pid), "-o", file],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr.on("data", (chunk) => {
    err += chunk;
  });
  await sleep(300); // perf attaches
  if (child.exitCode !== null) throw new Error(`perf record failed: ${err}`);
  return {
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
      return file;
    },
  };
}

/**
 * The bundle's modules: wrangler's esbuild output marks each with a line
 * `// path`; JavaScript frames in perf-<pid>.map say `<bundle>.js:line:col`.
 */
function bundleModules(dir) {
  const tmp = join(dir, ".wrangler/tmp");
  const marks = [];
  marks.lines = [];
  marks.file = "";
  if (!existsSync(tmp)) return marks;
  for (const d of readdirSync(tmp).filter((d) => d.startsWith("dev-"))) {
    // esbuild names the bundle after the entry: profile-worker.js.
    for (const name of readdirSync(join(tmp, d)).filter((f) => f.endsWith(".js"))) {
      marks.file = name;
      marks.lines = readFileSync(join(tmp, d, name), "utf8").split("\n");
      marks.lines.forEach((line, i) => {
        const m = /^\/\/ (\S+\.(?:[mc]?[jt]s|wasm))$/.exec(line);
        if (m) marks.push({ line: i + 1, module: m[1].replace(/^(\.\.\/)+/, "") });
      });
    }
  }
  return marks;
}

/**
 * A name for a function V8 calls anonymous: the property or variable it is
 * assigned to (wrangler's esbuild wraps such functions in `__name(…)`), or
 * its first line in the bundle.
 */
function anonymous(marks, line) {
  const text = (marks.lines[line - 1] ?? "").trim();
  const named = /^(?:(?:const|let|var)\s+)?([\w$]+)\s*[:=]/.exec(text);
  if (named) return named[1];
  // An arrow or callback: name it after the function or method around it.
  const indent = (l) => /^\s*/.exec(l)[0].length;
  const own = indent(marks.lines[line - 1] ?? "");
  for (let i = line - 2; i >= 0 && i > line - 200; i--) {
    const l = marks.lines[i];
    if (l.trim() === "" || indent(l) >= own) continue;
    const def = /^\s*(?:async\s+)?(?:function\s+|get\s+|static\s+)?([\w$]+)\s*\(.*\)\s*\{\s*$/.exec(
      l,
    );
    if (def && !/^(if|for|while|switch|catch)$/.test(def[1])) return `λ in ${def[1]}`;
  }
  return `(anonymous, line ${line}: ${text.slice(0, 40)})`;
}

function moduleAt(marks, line) {
  let found = "";
  for (const mark of marks) {
    if (mark.line <= line) found = mark.module;
    else break;
  }
  return found;
}

/** Where a module comes from: the project's code, wrangler's, or miniflare's. */
function origin(module) {
  if (/(^|\/)pkg\/core\.js$/.test(module)) return "glue";
  if (/(^|\/)js\//.test(module)) return "shim";
  if (module.includes("bench/ts-reference")) return "app";
  if (module.includes("bench/profile-worker")) return "harness";
  return "devtool";
}

/** wasm-bindgen glue that copies strings across the boundary. */
const STRING_GLUE =
  /^(passStringToWasm0|getStringFromWasm0|decodeText|getUint8ArrayMemory0|getDataViewMemory0|passArray8ToWasm0|__wbindgen_generic_0000000000000002)$/;

/**
 * Runtime calls, matched on the C++ frames between a JavaScript frame and the
 * leaf (outermost call first), and what to call them.
 */
const RUNTIME_CALLS = [
  [/Heap::|Scavenger|MarkCompact|MinorMark|cppgc::internal::(?!MakeGarbage)|GCTracer/, "GC"],
  [
    /api::Fetcher::fetch|DurableObjectNamespace::/,
    "call: stub.fetch / getByName (Worker → object)",
  ],
  [/api::WebSocket::send\b/, "call: ws.send"],
  [/::serializeAttachment/, "call: serializeAttachment"],
  [/::deserializeAttachment/, "call: deserializeAttachment"],
  [/getWebSockets/, "call: getWebSockets"],
  [/getTags/, "call: getTags"],
  [/acceptWebSocket/, "call: acceptWebSocket"],
  [/api::WebSocketPair|api::WebSocket::(?:WebSocket|constructor)/, "call: WebSocketPair"],
  [/api::WebSocket::close/, "call: ws.close"],
  [/api::Response::constructor|api::Response::Response/, "call: new Response"],
  [/api::URL::|api::url::|URLSearchParams|ada::/, "call: URL"],
  [/api::TextDecoder/, "call: TextDecoder.decode"],
  [/api::TextEncoder/, "call: TextEncoder.encode(Into)"],
  [/JsonParse|JsonParser/, "call: JSON.parse"],
  [/JsonStringif|JsonStringifier/, "call: JSON.stringify"],
  [/getRandomValues|RAND_bytes|BoringSSL|EVP_/, "call: crypto.getRandomValues"],
  [/api::Headers::|api::Request::/, "call: request.url/method/headers"],
  [/workerd::api::(?:\w+::)*?(\w+)::(~?\w+)(?:\(|$)/, (m) => `call: ${m[1]}.${m[2]}`],
];

/** The runtime's own work (no frame of the project on the stack), first match wins. */
const RUNTIME_OWN = [
  [
    /LegacyWebSocketAdapter::pump|ensurePumping|WebSocket::pump|outgoingMessages/,
    "runtime: outgoing frames (C++ pump after ws.send)",
  ],
  [
    /HibernatableWebSocketCustomEvent|sendHibernatableWebSocket|HibernationManager/,
    "runtime: incoming frame/close event (C++ dispatch)",
  ],
  [
    /ServiceWorkerGlobalScope::request|WorkerEntrypoint|HttpService|ActorChannel|startRequest/,
    "runtime: incoming request/upgrade (C++ dispatch)",
  ],
  [
    /AsyncLock|InputGate|OutputGate|Worker::Lock|IoContext|jsg::/,
    "runtime: isolate lock, gates, IoContext (C++)",
  ],
];

/**
 * The category of one sample: `frames` from the leaf outwards, each
 * {sym, dso}. Returns [category, project function or ""].
 */
function categorize(frames, marks) {
  // The innermost frame of the project: JavaScript in the Worker's bundle, or Wasm.
  let at = -1;
  let kind = "";
  let fn = "";
  let devtool = false;
  for (let i = 0; i < frames.length && at < 0; i++) {
    const { sym, dso } = frames[i];
    if (/js-to-wasm|wasm-to-js|JSToWasm|WasmToJs|GenericJSToWasm/i.test(sym)) {
      at = i;
      kind = "crossing";
      fn = sym.replace(/^Builtins?[_:]/, "");
      break;
    }
    const wasm = /^(?:JS:)?(.*)-\d+-(?:liftoff|turbofan)$/.exec(sym);
    if (wasm || /wasm-function\[/.test(sym)) {
      at = i;
      kind = "rust";
      fn = wasm ? wasm[1] : sym;
      break;
    }
    const js = /^JS:\S?(\S*) (\S+?):(\d+):\d+$/.exec(sym);
    if (js && dso.includes("perf-")) {
      const [, name, file, line] = js;
      if (file !== marks.file) {
        devtool = true;
        continue;
      }
      const module = moduleAt(marks, Number(line));
      const o = origin(module);
      if (o === "devtool") {
        devtool = true;
        continue;
      }
      at = i;
      kind = o;
      fn = name.replace(/^[*~^+']+/, "") || anonymous(marks, Number(line));
    }
  }
  if (at >= 0) {
    for (let i = at - 1; i >= 0; i--) {
      for (const [pattern, name] of RUNTIME_CALLS) {
        const match = pattern.exec(frames[i].sym);
        if (!match) continue;
        const category = typeof name === "function" ? name(match) : name;
        if (category === "GC") return ["call: GC during a call of the project", fn];
        if (kind !== "shim" && kind !== "app" && /TextDecoder|TextEncoder/.test(category)) {
          return ["glue: strings (TextEncoder/Decoder, copies)", fn];
        }
        return [category, fn];
      }
    }
    if (kind === "rust") return ["rust (wasm)", fn];
    if (kind === "crossing") return ["boundary: JS↔Wasm call wrappers", fn];
    if (kind === "glue") {
      if (STRING_GLUE.test(fn)) return ["glue: strings (TextEncoder/Decoder, copies)", fn];
      if (/^__wbg_|^__wbindgen_/.test(fn)) {
        return ["glue: imports Rust calls (serde-wasm-bindgen objects, Reflect)", fn];
      }
      return ["glue: wrappers (Room.*, externref table)", fn];
    }
    if (kind === "shim") return ["shim: js/index.ts (self)", fn];
    if (kind === "app") return ["app: ts-reference (self)", fn];
    return ["harness: bench/profile-worker.ts (self)", fn];
  }
  const stack = frames.map((f) => f.sym).join("\n");
  if (devtool || /TailStream|tracing::|InspectorSink|async_trace|Inspector/.test(stack)) {
    return ["runtime: dev tooling (wrangler/miniflare workers, tail, inspector)", ""];
  }
  if (/Heap::|Scavenger|MarkCompact|MinorMark|cppgc::|GCTracer|GlobalHandles/.test(stack)) {
    return ["runtime: GC and handles (outside the project's calls)", ""];
  }
  if (/sqlite3/.test(stack)) return ["runtime: SQLite", ""];
  if (frames[0]?.dso === "[kernel.kallsyms]") {
    return ["runtime: kernel (sockets, epoll, scheduling)", ""];
  }
  for (const [pattern, category] of RUNTIME_OWN) if (pattern.test(stack)) return [category, ""];
  return ["runtime: other C++ (event loop, WebSocket and HTTP I/O, RPC)", ""];
}

/**
 * Reads `perf script` and counts samples per category for the main thread
 * (the isolate's) and in total for the other threads.
 */
/**
 * V8's perf map (/tmp/perf-<pid>.map: `start size name`, appended as code is
 * made) never says when code died, and V8 reuses the addresses of dead code:
 * perf then names a sample after any of the functions that ever lived there
 * (B's JSON.parse came out under A's `perform`). This index keeps, where
 * entries overlap, only the latest: the code that lives there now, which in a
 * steady state is the code that ran.
 */
function jitSymbols(pid) {
  let text = "";
  try {
    text = readFileSync(`/tmp/perf-${pid}.map`, "utf8");
  } catch {
    return { lookup: () => undefined };
  }
  const entries = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) entries.push([BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`), m[3]]);
  }
  // Latest first; an entry survives if no later one overlaps it (checked per 4 KiB page).
  const pages = new Map();
  const kept = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const [start, size, name] = entries[i];
    const end = start + (size > 0n ? size : 1n);
    const first = start >> 12n;
    const last = (end - 1n) >> 12n;
    let overlaps = false;
    for (let p = first; p <= last && !overlaps; p++) {
      for (const k of pages.get(p) ?? []) {
        if (kept[k][0] < end && start < kept[k][1]) overlaps = true;
      }
    }
    if (overlaps) continue;
    kept.push([start, end, name]);
    for (let p = first; p <= last; p++) {
      if (!pages.has(p)) pages.set(p, []);
      pages.get(p).push(kept.length - 1);
    }
  }
  kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return {
    lookup(ip) {
      let lo = 0;
      let hi = kept.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (kept[mid][1] <= ip) lo = mid + 1;
        else if (kept[mid][0] > ip) hi = mid - 1;
        else return kept[mid][2];
      }
      return undefined;
    },
  };
}

async function analyze(file, pid, marks) {
  const jit = jitSymbols(pid);
  const child = spawn("perf", ["script", "-i", file, "-F", "tid,ip,sym,dso"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  const byCategory = new Map();
  const byFunction = new Map();
  const inclusive = new Map();
  const names = new Map();
  let unnamed = 0;
  /** A JavaScript frame of the bundle: its function's name, anonymous ones named as in categorize. */
  const jsName = (sym) => {
    if (!names.has(sym)) {
      const js = /^JS:\S?(\S*) (\S+):(\d+):\d+$/.exec(sym);
      const ours = js && js[2] === marks.file;
      names.set(sym, ours ? js[1].replace(/^[*~^+']+/, "") || anonymous(marks, Number(js[3])) : "");
    }
    return names.get(sym);
  };
  let main = 0;
  let other = 0;
  let tid = 0;
  let frames = [];
  const flush = () => {
    if (tid === 0) return;
    if (tid === pid) {
      main++;
      const [category, fn] = categorize(frames, marks);
      byCategory.set(category, (byCategory.get(category) ?? 0) + 1);
      for (const [name, test] of INCLUSIVE) {
        if (test(frames)) inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
      }
      if (frames.some((f) => f.unnamed)) unnamed++;
      if (fn) {
        const key = `${category} · ${fn}`;
        byFunction.set(key, (byFunction.get(key) ?? 0) + 1);
      }
    } else {
      other++;
    }
    tid = 0;
    frames = [];
  };
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    if (line.trim() === "") {
      flush();
      continue;
    }
    const head = /^\s*(\d+)\s*$/.exec(line);
    if (head) {
      flush();
      tid = Number(head[1]);
      continue;
    }
    const frame = /^\s*([0-9a-f]+) (.*) \(([^)]*)\)$/.exec(line);
    if (frame) {
      let [, ip, sym, dso] = frame;
      // JIT code: resolve against the latest code at that address (see jitSymbols).
      if (dso.startsWith("/tmp/perf-") || (dso === "[unknown]" && sym === "[unknown]")) {
        sym = jit.lookup(BigInt(`0x${ip}`)) ?? sym;
      }
      const unnamed = sym === "[unknown]" && dso.startsWith("/tmp/perf-");
      frames.push({ sym, dso, name: jsName(sym), unnamed });
    }
  }
  flush();
  return { byCategory, byFunction, inclusive, main, other, unnamed };
}

const isWasm = ({ sym }) => /-\d+-(?:liftoff|turbofan)$|wasm-function\[/.test(sym);
/**
 * Inclusive figures (a sample counts if any frame matches): the time inside
 * Rust calls (a Wasm frame on the stack: the call, the JS imports it calls
 * back, the strings it decodes), and within it the conversion of the result
 * to JS objects by serde-wasm-bindgen (its Wasm functions and the glue
 * imports that build objects: new Object/Array, set) and the copy of string
 * arguments into Wasm memory.
 */
const INCLUDED_RUST = "incl.: inside Rust calls (Wasm on the stack)";
const syms = (frames, pattern) => frames.some(({ sym, name }) => pattern.test(name || sym));
/** Wasm and glue frames of reading `env` (read_config: Reflect.get of each variable). */
const ENV_READ =
  /read_config|from_vars|Config::|^__wbg_get_|^__wbg_String_|__wbindgen_(?:is_null|is_undefined|typeof|number_get)/;
/** Frames of serde-wasm-bindgen building the JS result, and the glue imports it calls. */
const TO_JS =
  /serde_wasm_bindgen|collect_seq|TaggedSerializer|serialize_tagged_newtype|Serialize for websocket_hibernation_server::|^__wbg_(?:new|set)_|^__wbindgen_generic_000000000000000[123]$/;
const JSON_TEXT = /serde_json::ser|to_json|format_escaped_str/;
const INCLUSIVE = [
  [INCLUDED_RUST, (frames) => frames.some(isWasm)],
  [
    "incl.: ↳ result → JS values (serde-wasm-bindgen: objects, keys, strings incl. reply text)",
    (frames) =>
      frames.some(isWasm) &&
      syms(frames, TO_JS) &&
      !syms(frames, ENV_READ) &&
      !syms(frames, JSON_TEXT),
  ],
  [
    "incl.: ↳ string arguments → Wasm memory (string_get, passStringToWasm0)",
    (frames) => syms(frames, /string_get|passStringToWasm0|passArray8ToWasm0/),
  ],
  ["incl.: ↳ reading env (Reflect.get of each variable)", (frames) => syms(frames, ENV_READ)],
  [
    "incl.: ↳ JSON text of frames in Rust (serde_json)",
    (frames) => frames.some(isWasm) && syms(frames, JSON_TEXT),
  ],
];

// ---------------------------------------------------------------- the workloads

function connect(url, headers, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      headers,
    });
    ws.once("open", () => {
      ws.removeAllListeners("error");
      ws.on("error", () => {});
      resolve(ws);
    });
    ws.once("error", reject);
  });
}

async function openMany(url, headers, count, concurrency, setup) {
  const sockets = [];
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        const ws = await connect(url(i), headers);
        setup?.(ws, i);
        sockets[i] = ws;
      } catch (error) {
        if (++failures > 20) throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sockets.filter(Boolean);
}

/** Waits until `counter.value` reaches `target`, or has not moved for `quietMs`. */
async function settle(counter, target, quietMs, capMs = 60_000) {
  const end = performance.now() + capMs;
  let last = counter.value;
  let since = performance.now();
  while (performance.now() < end && counter.value < target) {
    await sleep(5);
    if (counter.value !== last) {
      last = counter.value;
      since = performance.now();
    } else if (performance.now() - since > quietMs) {
      break;
    }
  }
}

/**
 * Echo on /websocket: `clients` sockets each send `frames` frames, one at a
 * time (the next when the reply arrives). Measured: the frames, not the handshakes.
 */
async function echo({ base, headers }, { clients, frames }, measure) {
  const sockets = await openMany(() => `${base}/websocket`, headers, clients, 16);
  let replies = 0;
  let last = "";
  const result = await measure(async () => {
    await Promise.all(
      sockets.map(
        (socket, c) =>
          new Promise((resolve) => {
            let sent = 0;
            const send = () => {
              if (sent === frames) return resolve();
              socket.send(`c${c} f${sent++}`);
            };
            socket.on("message", (data) => {
              replies++;
              if (c === 0) last = String(data);
              send();
            });
            socket.once("close", resolve);
            send();
          }),
      ),
    );
    return { units: replies, unit: "frame", note: `last reply "${last}"` };
  });
  for (const s of sockets) s.terminate();
  await sleep(500);
  return result;
}

/**
 * Broadcast in one room of `clients`: each member sends `frames` `say`s, the
 * next when its own came back; everyone gets every message. The unit is one
 * `say` received by the object (and sent to `clients` sockets).
 */
async function broadcast({ base, headers }, { clients, frames }, measure) {
  const room = `b${Date.now()}`;
  const received = { value: 0 };
  const sockets = await openMany(
    (i) => `${base}/rooms/${room}/websocket?name=c${i}`,
    headers,
    clients,
    16,
    (ws) => ws.on("message", () => received.value++),
  );
  await settle(received, Number.POSITIVE_INFINITY, 500, 20_000); // A's welcome and joined frames
  const result = await measure(async () => {
    const start = received.value;
    let says = 0;
    await Promise.all(
      sockets.map(
        (socket, c) =>
          new Promise((resolve) => {
            let sent = 0;
            let token = "";
            const send = () => {
              if (sent === frames) return resolve();
              token = `"c${c}-${sent++}"`;
              says++;
              socket.send(`{"type":"say","text":${token}}`);
            };
            socket.on("message", (data) => {
              if (data.includes(token)) send();
            });
            socket.once("close", resolve);
            send();
          }),
      ),
    );
    await settle(received, start + says * sockets.length, 1_000);
    return {
      units: says,
      unit: `say to ${sockets.length}`,
      delivered: received.value - start,
    };
  });
  for (const s of sockets) s.terminate();
  await sleep(1_000);
  return result;
}

/** A ramp of `count` joins into one new room, 16 handshakes in flight. */
async function joins({ base, headers }, { count }, measure) {
  const room = `j${Date.now()}`;
  const received = { value: 0 };
  let sockets = [];
  const result = await measure(async () => {
    sockets = await openMany(
      (i) => `${base}/rooms/${room}/websocket?name=j${i}`,
      headers,
      count,
      16,
      (ws) => ws.on("message", () => received.value++),
    );
    await settle(received, Number.POSITIVE_INFINITY, 500, 30_000);
    return { units: sockets.length, unit: `join (ramp to ${count})`, delivered: received.value };
  });
  for (const s of sockets) s.terminate();
  await sleep(2_000); // the closes (and A's left frames) drain before the next round
  return result;
}

/** `count` joins into a room that already holds `at` members (joined unmeasured). */
async function joinsAt({ base, headers }, { at, count }, measure) {
  const room = `k${Date.now()}`;
  const received = { value: 0 };
  const url = (i) => `${base}/rooms/${room}/websocket?name=k${i}`;
  const count1 = (ws) => ws.on("message", () => received.value++);
  const first = await openMany(url, headers, at, 16, count1);
  await settle(received, Number.POSITIVE_INFINITY, 500, 30_000);
  let more = [];
  const result = await measure(async () => {
    more = await openMany((i) => url(at + i), headers, count, 16, count1);
    await settle(received, Number.POSITIVE_INFINITY, 500, 30_000);
    return { units: more.length, unit: `join (room of ${first.length})` };
  });
  for (const s of [...first, ...more]) s.terminate();
  await sleep(3_000);
  return result;
}

const WORKLOADS = { echo, broadcast, join: joins, "join-at": joinsAt };

// ---------------------------------------------------------------- one measurement

/** Resolves once the isolate's thread used under 1 % of a core for 300 ms (at most 30 s). */
async function waitIdle(pid) {
  const end = performance.now() + 30_000;
  while (performance.now() < end) {
    const before = threadCpuNs(pid);
    await sleep(300);
    if (threadCpuNs(pid) - before < 3e6) return;
  }
}

/**
 * `workload` once on variant `key` under perf; appends a row to
 * `results[workload]`.
 */
async function measureOnce(server, marks, key, workload, round, results) {
  const pid = server.workerd.user;
  await waitIdle(pid); // the previous workload's closes (A tells the room who left) are done
  const target = { base: `ws://127.0.0.1:${server.port}`, headers: VARIANTS[key].headers };
  const file = join(server.dir, `${workload}.perf.data`);
  const measured = await WORKLOADS[workload](target, SIZES[workload], async (run) => {
    const perf = await record(pid, file);
    const main0 = threadCpuNs(pid);
    const all0 = processCpuNs(pid);
    const proxies = server.workerd.all.filter((p) => p !== pid);
    const proxy0 = sum(proxies.map(processCpuNs));
    const t0 = performance.now();
    const out = await run();
    const wallMs = performance.now() - t0;
    const mainNs = threadCpuNs(pid) - main0;
    const allNs = processCpuNs(pid) - all0;
    const proxyNs = sum(proxies.map(processCpuNs)) - proxy0;
    await perf.stop();
    return { ...out, wallMs, mainNs, allNs, proxyNs };
  });
  const counts = await analyze(file, pid, marks);
  if (keep) {
    mkdirSync(keep, { recursive: true });
    execFileSync("cp", [file, join(keep, `${key}-${workload}-${round}.perf.data`)]);
    execFileSync("cp", [`/tmp/perf-${pid}.map`, join(keep, `perf-${pid}.map`)]);
  }
  rmSync(file, { force: true });
  const us = 1e6 / hz;
  results[workload] ??= [];
  results[workload].push({ ...measured, ...counts, sampleUs: us });
  const project = sum([...counts.byCategory].filter(([c]) => PROJECT.test(c)).map(([, n]) => n));
  log(
    `${key} ${workload} round ${round + 1}: ${measured.units} × ${measured.unit}` +
      `${measured.delivered ? ` (${measured.delivered} delivered)` : ""}; µs per unit: ` +
      `isolate thread ${(measured.mainNs / 1000 / measured.units).toFixed(1)} ` +
      `(perf ${((counts.main * us) / measured.units).toFixed(1)}, ` +
      `project code ${((project * us) / measured.units).toFixed(1)}), ` +
      `whole workerd ${(measured.allNs / 1000 / measured.units).toFixed(1)}` +
      (measured.note ? `; ${measured.note}` : ""),
  );
}

// ---------------------------------------------------------------- tables

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)];
};
const fmt = (x) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1)) : "–");
const cell = (values) => {
  const m = median(values);
  return values.length > 1
    ? `${fmt(m)} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`
    : fmt(m);
};

/** Categories that are the project's own doing (the rest is the runtime's or the tooling's). */
const PROJECT = /^(rust|boundary|glue|shim|app|scratch)/;

function printTables(all) {
  for (const workload of workloads.filter((w) => w !== "micro")) {
    const present = variants.filter((v) => all[v]?.[workload]?.length);
    if (present.length === 0) continue;
    const perUnit = (v, f) => all[v][workload].map((r) => f(r) / r.units);
    const categories = new Set();
    for (const v of present) {
      for (const r of all[v][workload]) for (const c of r.byCategory.keys()) categories.add(c);
    }
    const usOf = (c) => (r) => (r.byCategory.get(c) ?? 0) * r.sampleUs;
    const order = [...categories].sort(
      (a, b) =>
        Math.max(...present.map((v) => median(perUnit(v, usOf(b))))) -
        Math.max(...present.map((v) => median(perUnit(v, usOf(a))))),
    );
    const rows = [];
    for (const c of order) {
      const values = present.map((v) => perUnit(v, usOf(c)));
      if (Math.max(...values.map(median)) < 0.05) continue;
      rows.push([c, ...values.map(cell)]);
    }
    const total = (r) => r.main * r.sampleUs;
    const inProject = (r) =>
      sum([...r.byCategory].filter(([c]) => PROJECT.test(c)).map(([, n]) => n)) * r.sampleUs;
    const calls = (r) =>
      sum([...r.byCategory].filter(([c]) => c.startsWith("call: ")).map(([, n]) => n)) * r.sampleUs;
    rows.push([
      "**project code (Rust, boundary, glue, shim / app)**",
      ...present.map((v) => cell(perUnit(v, inProject))),
    ]);
    rows.push([
      "**runtime calls the code makes (call: …)**",
      ...present.map((v) => cell(perUnit(v, calls))),
    ]);
    for (const [name] of INCLUSIVE) {
      const values = present.map((v) =>
        perUnit(v, (r) => (r.inclusive.get(name) ?? 0) * r.sampleUs),
      );
      if (Math.max(...values.map(median)) >= 0.05) rows.push([name, ...values.map(cell)]);
    }
    const other = { A: /^app:/, B: /^(rust|boundary|glue|shim)/, B2: /^(rust|boundary|glue|shim)/ };
    rows.push([
      "(the other variant's code in this window: a check, should be ~0)",
      ...present.map((v) =>
        cell(
          perUnit(
            v,
            (r) =>
              sum([...r.byCategory].filter(([c]) => other[v].test(c)).map(([, n]) => n)) *
              r.sampleUs,
          ),
        ),
      ),
    ]);
    rows.push([
      "(samples with a JIT frame V8's perf map does not name yet: a check, should be ~0)",
      ...present.map((v) => cell(perUnit(v, (r) => r.unnamed * r.sampleUs))),
    ]);
    rows.push([
      "**isolate thread, all samples (perf)**",
      ...present.map((v) => cell(perUnit(v, total))),
    ]);
    rows.push([
      "isolate thread CPU (/proc schedstat)",
      ...present.map((v) => cell(perUnit(v, (r) => r.mainNs / 1000))),
    ]);
    rows.push([
      "whole workerd process CPU (all threads)",
      ...present.map((v) => cell(perUnit(v, (r) => r.allNs / 1000))),
    ]);
    rows.push([
      "wrangler's proxy workerd CPU (not the Worker's)",
      ...present.map((v) => cell(perUnit(v, (r) => r.proxyNs / 1000))),
    ]);
    rows.push(["wall time", ...present.map((v) => cell(perUnit(v, (r) => r.wallMs * 1000)))]);
    const first = all[present[0]][workload][0];
    console.log(
      `\n### ${workload} ${JSON.stringify(SIZES[workload])}: CPU µs per ${first.unit}, ` +
        `median (min–max) of ${all[present[0]][workload].length} rounds, perf at ${hz} Hz\n`,
    );
    console.log(`| category | ${present.map((v) => VARIANTS[v].label).join(" | ")} |`);
    console.log(`|---|${present.map(() => "---:").join("|")}|`);
    for (const row of rows) console.log(`| ${row.join(" | ")} |`);
    if (present.length === 2) {
      // Paired by round (the two ran back to back under the same load): the
      // machine's load moves every figure by up to 3×, the ratio far less.
      const [a, b] = [all[present[0]][workload], all[present[1]][workload]];
      const n = Math.min(a.length, b.length);
      const ratio = [];
      const extra = [];
      for (let i = 0; i < n; i++) {
        ratio.push(a[i].mainNs / a[i].units / (b[i].mainNs / b[i].units));
        extra.push(
          (inProject(a[i]) / a[i].units - inProject(b[i]) / b[i].units) /
            (b[i].mainNs / 1000 / b[i].units),
        );
      }
      const list = (xs, f) => xs.map(f).join(", ");
      console.log(
        `\nPaired by round: isolate thread CPU ${present.join("/")} ` +
          `${list(ratio, (x) => x.toFixed(2))} (median ${median(ratio).toFixed(2)}); ` +
          `${present[0]}'s extra project code as a share of ${present[1]}'s total ` +
          `${list(extra, (x) => `${(x * 100).toFixed(1)} %`)} (median ${(median(extra) * 100).toFixed(1)} %)`,
      );
    }
    for (const v of present) {
      const fns = new Map();
      const runs = all[v][workload];
      for (const r of runs) {
        for (const [k, n] of r.byFunction) {
          fns.set(k, (fns.get(k) ?? 0) + (n * r.sampleUs) / r.units / runs.length);
        }
      }
      const costliest = [...fns].sort((a, b) => b[1] - a[1]).slice(0, top);
      console.log(
        `\n${VARIANTS[v].label}: project functions (self + runtime calls), µs per unit\n`,
      );
      for (const [k, us] of costliest) console.log(`    ${fmt(us).padStart(6)}  ${k}`);
    }
  }
}

// ---------------------------------------------------------------- micro-benchmarks

/**
 * Each op of the scratch object (bench/profile-worker.ts), `n` times per request at object sizes
 * 1 and 1,000: µs per call = (isolate thread CPU − the same for `noop`) / n,
 * median (min–max) of `rounds` requests.
 */
async function micro(server, marks) {
  const base = `http://127.0.0.1:${server.port}`;
  const pid = server.workerd.user;
  const table = new Map();
  const splits = new Map();
  for (const size of [1, 1000]) {
    const { ops, sockets } = JSON.parse((await httpGet(`${base}/ops?size=${size}`)).body);
    log(`micro: object of ${size}: ${sockets} sockets held`);
    const cost = async (op, n) => {
      const t0 = threadCpuNs(pid);
      const res = await httpGet(`${base}/op/${encodeURIComponent(op)}?size=${size}&n=${n}`);
      if (res.status !== 200) throw new Error(`${op}: ${res.status} ${res.body}`);
      return threadCpuNs(pid) - t0;
    };
    for (const op of ops) {
      // Size the batch to ~150 ms of CPU, from a first small run.
      await cost(op, 200);
      const probe = await cost(op, 2_000);
      const n = Math.max(2_000, Math.min(2_000_000, Math.round((150e6 / probe) * 2_000)));
      const noop = [];
      const runs = [];
      for (let r = 0; r < Math.max(3, rounds); r++) {
        noop.push(await cost("noop", n));
        runs.push(await cost(op, n));
      }
      const perCall = runs.map((ns, i) => (ns - noop[i]) / n / 1000);
      if (!table.has(op)) table.set(op, {});
      table.get(op)[size] = perCall;
      if (op.startsWith("rust:")) {
        // One more batch under perf: where the call's time goes.
        const file = join(server.dir, "micro.perf.data");
        const perf = await record(pid, file);
        await cost(op, n);
        await perf.stop();
        const { byCategory, inclusive } = await analyze(file, pid, marks);
        rmSync(file, { force: true });
        const split = new Map();
        for (const [c, k] of [...byCategory, ...inclusive]) split.set(c, (k * 1e6) / hz / n);
        splits.set(`${op}, object of ${size}`, split);
      }
    }
  }
  console.log(
    `\n### micro: CPU µs per call inside a Durable Object (workerd), median (min–max) of ${Math.max(3, rounds)} batches\n`,
  );
  console.log("| call | object of 1 | object of 1,000 |");
  console.log("|---|---:|---:|");
  for (const [op, bySize] of table) {
    if (op === "noop") continue;
    console.log(`| ${op} | ${cell(bySize[1])} | ${cell(bySize[1000])} |`);
  }
  console.log(
    "\n### micro: where the time of a Rust call goes, µs per call (one batch under perf)\n",
  );
  for (const [op, split] of splits) {
    const parts = [...split]
      .filter(([c, us]) => us >= 0.05 && !c.startsWith("runtime: "))
      .sort((a, b) => b[1] - a[1])
      .map(([c, us]) => `${c} ${fmt(us)}`);
    console.log(`- ${op}: ${parts.join("; ")}`);
  }
}

// ---------------------------------------------------------------- main

log(`starting wrangler dev for bench/profile-worker.ts (waits for ${LOCK})`);
const server = await startServer();
try {
  log(`workerd ${server.workerd.all.join(", ")}; the Worker's: ${server.workerd.user}`);
  const marks = bundleModules(server.dir);
  if (marks.length === 0) log("no bundle found: JavaScript frames stay unattributed");
  const all = {};
  const measured = workloads.filter((w) => w !== "micro");
  for (const workload of measured) {
    for (const v of variants) {
      const target = { base: `ws://127.0.0.1:${server.port}`, headers: VARIANTS[v].headers };
      await WORKLOADS[workload](target, WARMUP[workload], (run) => run());
    }
  }
  // A and B take turns on each workload, in an order that alternates by
  // round (A B, B A, …): load from other processes, which comes and goes and
  // moves every figure by up to 3× on a shared machine, falls on both alike.
  for (let r = 0; r < rounds; r++) {
    for (const workload of measured) {
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + r) % variants.length];
        all[v] ??= {};
        await measureOnce(server, marks, v, workload, r, all[v]);
      }
    }
  }
  if (measured.length > 0) {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root });
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(
      `\nbench/profile.mjs: ${new Date().toISOString()}, commit ${commit.toString().trim()}, ` +
        `dev tooling ${devTooling ? "on" : "off"}, load average ${load}`,
    );
    printTables(all);
  }
  if (workloads.includes("micro")) await micro(server, marks);
} finally {
  await server.stop();
}
