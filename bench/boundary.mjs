// Micro-benchmark of the Wasm boundary, in Node (V8, the engine workerd runs):
// what one call into pkg/ costs per frame, next to the same work done in plain
// JavaScript. `npm run bench` runs it and puts the table in bench/RESULTS.md;
// `node bench/boundary.mjs` prints it alone (needs `npm run build` first).
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const root = new URL("..", import.meta.url).pathname;

/** Limits high enough that no workload is refused; bench/run.mjs passes them to every variant. */
export const BENCH_VARS = {
  MAX_CONNECTIONS_PER_ROOM: "32768",
  RATE_LIMIT_PER_SECOND: "1000000",
  RATE_LIMIT_BURST: "1000000",
};

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

export async function boundary({ calls = 20_000 } = {}) {
  const core = await import(`${root}pkg/core.js`);
  core.initSync({ module: new WebAssembly.Module(readFileSync(`${root}pkg/core_bg.wasm`)) });
  // The bench's own limits (BENCH_VARS above; bench/run.mjs gives them to every
  // variant as `vars`): every check still runs, none refuses the repeated
  // frames of this loop.
  const room = new core.Room(undefined, Date.now(), 0, BENCH_VARS);
  const ids = [];
  for (let i = 0; i < 99; i++) {
    const opening = room.open(
      `http://127.0.0.1/rooms/bench/websocket?name=m${i}`,
      Date.now(),
      crypto.getRandomValues(new Uint8Array(9)),
    );
    ids.push(opening.id);
  }
  const id = ids[0];
  const member = { id, name: "m0" };
  const say = '{"type":"say","text":"hello everyone"}';
  const big = `{"type":"say","text":"${"x".repeat(4000)}"}`;
  const rows = [
    ["room.seed(10 B text) → Effects [reply]", time(() => room.seed("hello seed", 1), calls)],
    [
      "same in JS: template string",
      time(
        () => [
          { kind: "reply", text: `[Durable Object] message: ${"hello seed"}, connections: ${1}` },
        ],
        calls,
      ),
    ],
    ["room.seed(4 KB text)", time(() => room.seed("x".repeat(4096), 1), calls / 4)],
    ["internalError() → string, no serde", time(() => core.internalError(), calls)],
    ["seedClose(1000) → Effects [close] via serde", time(() => core.seedClose(1000), calls)],
    [
      'room.frame(id, {"type":"ping"}) → Effects [reply]',
      time(() => room.frame(id, '{"type":"ping"}', Date.now()), calls),
    ],
    [
      'room.frame(id, say) → Effects [send "room"]',
      time(() => room.frame(id, say, Date.now()), calls),
    ],
    [
      "same in JS: JSON.parse + JSON.stringify (variant B)",
      time(() => {
        const frame = JSON.parse(say);
        return [
          {
            kind: "send",
            tag: "room",
            text: JSON.stringify({
              type: "message",
              id: member.id,
              name: member.name,
              text: frame.text,
              ts: Date.now(),
            }),
          },
        ];
      }, calls),
    ],
    ["room.frame(id, 4 KB say)", time(() => room.frame(id, big, Date.now()), calls / 4)],
    [
      // The newcomer makes 100, PRESENCE_LIMIT's default: the welcome lists
      // all 100 and the others are sent `joined`, then `left`.
      "room.open(join) + leave in a room of 99 (welcome lists 100; joined, left to the room)",
      time((i) => {
        const opening = room.open(
          `http://127.0.0.1/rooms/bench/websocket?name=j${i}`,
          Date.now(),
          crypto.getRandomValues(new Uint8Array(9)),
        );
        room.leave(opening.id);
      }, calls / 10),
    ],
  ];
  // Above PRESENCE_LIMIT a join costs O(limit + log n), not O(n): the welcome
  // lists the newcomer and the first 99 others, and nobody is sent `joined`
  // (nor `left` when it goes). `who` pages the roster 100 at a time.
  for (let i = 99; i < 1_000; i++) {
    room.open(
      `http://127.0.0.1/rooms/bench/websocket?name=m${i}`,
      Date.now(),
      crypto.getRandomValues(new Uint8Array(9)),
    );
  }
  // A later page: the cursor (a roster's `next`) five pages in, checked to
  // answer a roster, so that the row never times an error frame.
  const roster = (text) => {
    const reply = room.frame(id, text, Date.now()).find((effect) => effect.kind === "reply");
    const frame = JSON.parse(reply?.text ?? "null");
    if (frame?.type !== "roster") throw new Error(`who answered ${reply?.text}`);
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
      "room.open(join) + leave in a room of 1,000 (welcome lists 100; no joined, no left)",
      time((i) => {
        const opening = room.open(
          `http://127.0.0.1/rooms/bench/websocket?name=k${i}`,
          Date.now(),
          crypto.getRandomValues(new Uint8Array(9)),
        );
        room.leave(opening.id);
      }, calls / 10),
    ],
    [
      'room.frame(id, {"type":"who"}) in a room of 1,000 (a roster page of 100, next)',
      time(() => room.frame(id, '{"type":"who"}', Date.now()), calls / 10),
    ],
    [
      "room.frame(id, who after a roster's next) in a room of 1,000 (the sixth page)",
      time(() => room.frame(id, whoLater, Date.now()), calls / 10),
    ],
  );
  room.free();
  return rows.map(([what, us]) => ({ what, us }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const { what, us } of await boundary())
    console.log(`${us.toFixed(2).padStart(8)} µs  ${what}`);
}
