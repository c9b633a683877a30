// Micro-benchmark of the Wasm boundary, in Node (V8, the engine workerd runs):
// what one call into pkg/ costs, next to the same work done in plain
// JavaScript. `npm run bench` puts the table in its report;
// `node bench/boundary.mjs` prints it alone (needs `npm run build` first).
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { BENCH_VARS, root } from "./lib/server.mjs";

/**
 * The only code of the bench that knows pkg/'s API (its names follow
 * rust/src/wasm.rs): one object's state, with the bench's limits (every check
 * still runs, none refuses the repeated frames of the loops below).
 */
async function core() {
  const pkg = await import(`${root}pkg/core.js`);
  pkg.initSync({ module: new WebAssembly.Module(readFileSync(`${root}pkg/core_bg.wasm`)) });
  // The room's history store (js/history.ts runs SQL): empty here, and the
  // history's writes are not carried out, so each call times the core alone.
  const history = {
    head: () => [null, null, null],
    rowsWritten: 0,
    published: () => null,
    shards: () => [],
  };
  const state = new pkg.ObjectState(undefined, Date.now(), 0, BENCH_VARS, "bench", history);
  /** A request's headers, as the object reads them (none set). */
  const headers = new Headers();
  /** Every member's tags, as the object accepted its socket. */
  const tags = new Map();
  const echo = state.open(
    "http://127.0.0.1/websocket",
    Date.now(),
    new Uint8Array(9),
    history,
    headers,
  );
  if (echo.kind !== "echo") throw new Error(`/websocket answered ${JSON.stringify(echo)}`);
  return {
    /** A frame on `/websocket`, one socket connected. */
    echo: (text) => state.message(echo.tags, text, Date.now(), history),
    /** The close of a `/websocket` socket (one the object never held, so the count stays). */
    echoClose: (code) => state.close(["echo:gone"], code, undefined),
    internalError: () => pkg.failedFrame(["bench-member", "room"]),
    /** A member joins room "bench"; returns its id. */
    join(name) {
      const url = `http://127.0.0.1/rooms/bench/websocket?name=${name}`;
      const entropy = crypto.getRandomValues(new Uint8Array(9));
      const opening = state.open(url, Date.now(), entropy, history, headers);
      if (opening.kind !== "join") throw new Error(`join answered ${JSON.stringify(opening)}`);
      tags.set(opening.id, opening.tags);
      return opening.id;
    },
    leave: (id) => state.error(tags.get(id), undefined),
    frame: (id, text) => state.message(tags.get(id), text, Date.now(), history),
    /** The text of the reply among a frame's effects (a lone reply comes as its text). */
    reply: (effects) =>
      typeof effects === "string"
        ? effects
        : effects.find((effect) => effect.kind === "reply")?.text,
    free: () => state.free(),
  };
}

/** µs per call of `fn`, the median of 5 batches after a warm-up. */
function time(fn, calls) {
  for (let i = 0; i < calls; i++) fn(i);
  const batches = [];
  for (let b = 0; b < 5; b++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) fn(i);
    batches.push(((performance.now() - start) * 1000) / calls);
  }
  return batches.sort((x, y) => x - y)[2];
}

/** Rows `{what, us}`; `calls` per batch for the cheap calls (a tenth for joins and rosters). */
export async function boundary({ calls = 20_000 } = {}) {
  const c = await core();
  const ids = [];
  for (let i = 0; i < 99; i++) ids.push(c.join(`m${i}`));
  const id = ids[0];
  const say = '{"type":"say","text":"hello everyone"}';
  const big = `{"type":"say","text":"${"x".repeat(4000)}"}`;
  // The newcomer makes 100, PRESENCE_LIMIT's default: the welcome lists all
  // 100 and the others are sent `joined`, then `left`.
  const joinLeave = (prefix) => (i) => c.leave(c.join(`${prefix}${i}`));
  const rows = [
    ["/websocket frame (10 B) → its reply's text", time(() => c.echo("hello echo"), calls)],
    [
      "same in JS: template string",
      time(() => `[Durable Object] message: ${"hello"}, connections: 1`, calls),
    ],
    ["/websocket frame (4 KB)", time(() => c.echo("x".repeat(4096)), calls / 4)],
    ["failedFrame(tags) → Effects [reply internal]", time(() => c.internalError(), calls)],
    ["/websocket close(1000) → Effects [close] via serde", time(() => c.echoClose(1000), calls)],
    [
      'room frame {"type":"ping"} → its reply\'s text',
      time(() => c.frame(id, '{"type":"ping"}'), calls),
    ],
    ['room frame say → Effects [send "room", stored]', time(() => c.frame(id, say), calls)],
    [
      "same in JS: JSON.parse + JSON.stringify (variant B)",
      time(() => {
        const { text } = JSON.parse(say);
        const out = JSON.stringify({ type: "message", id, name: "m0", text, ts: Date.now() });
        return [{ kind: "send", tag: "room", text: out }];
      }, calls),
    ],
    ["room frame 4 KB say", time(() => c.frame(id, big), calls / 4)],
    [
      "join + leave in a room of 99 (welcome lists 100; joined, left to the room)",
      time(joinLeave("j"), calls / 10),
    ],
  ];
  // Above PRESENCE_LIMIT a join costs O(limit + log n), not O(n): the welcome
  // lists the newcomer and the first 99 others, and nobody is sent `joined`
  // (nor `left` when it goes). `who` pages the roster 100 at a time.
  for (let i = 99; i < 1_000; i++) c.join(`m${i}`);
  // A later page: the cursor (a roster's `next`) five pages in, checked to
  // answer a roster, so that the row never times an error frame.
  const roster = (text) => {
    const reply = c.reply(c.frame(id, text));
    const frame = JSON.parse(reply ?? "null");
    if (frame?.type !== "roster") throw new Error(`who answered ${reply}`);
    return frame;
  };
  let after;
  for (let page = 0; page < 5; page++) {
    after = roster(
      JSON.stringify(after === undefined ? { type: "who" } : { type: "who", after }),
    ).next;
  }
  const whoLater = JSON.stringify({ type: "who", after });
  roster(whoLater);
  rows.push(
    [
      "join + leave in a room of 1,000 (welcome lists 100; no joined, no left)",
      time(joinLeave("k"), calls / 10),
    ],
    [
      'room frame {"type":"who"} in a room of 1,000 (a roster page of 100, next)',
      time(() => c.frame(id, '{"type":"who"}'), calls / 10),
    ],
    [
      "room frame who after a roster's next in a room of 1,000 (the sixth page)",
      time(() => c.frame(id, whoLater), calls / 10),
    ],
  );
  c.free();
  return rows.map(([what, us]) => ({ what, us }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const { what, us } of await boundary()) {
    console.log(`${us.toFixed(2).padStart(8)} µs  ${what}`);
  }
}
