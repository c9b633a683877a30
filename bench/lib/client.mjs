// The load client of `npm run bench`: WebSocket clients (the `ws` package, one
// Node process, loopback only) that drive one variant's `wrangler dev` through
// each workload. Every workload is bounded in sockets and in time; a workload
// that hits its time cap returns what it measured and says so.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { percentile } from "./stats.mjs";

/** Opens one socket; resolves when it is open, rejects on error or timeout. */
export function connect(url, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.once("open", () => {
      ws.removeAllListeners("error");
      ws.on("error", () => {});
      resolve(ws);
    });
    ws.once("error", reject);
  });
}

/**
 * Opens sockets `url(i)` for i = 0… with `concurrency` handshakes in flight,
 * until `count` are open, the deadline passes or `stop()` returns true (asked
 * before each handshake). `setup(ws, i)` runs on each open socket before the
 * next is started. `open(url)` opens one (default `connect`; whatever it
 * resolves with is what `sockets` holds).
 */
export async function openMany(
  url,
  count,
  { concurrency = 64, deadline = Infinity, setup, stop, open = connect } = {},
) {
  const sockets = [];
  const errors = [];
  let next = 0;
  async function worker() {
    while (next < count && performance.now() < deadline && !stop?.()) {
      const i = next++;
      try {
        const ws = await open(url(i));
        setup?.(ws, i);
        sockets[i] = ws;
      } catch (error) {
        errors.push(String(error?.message ?? error));
        if (errors.length > 50) return;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { sockets: sockets.filter(Boolean), errors };
}

/** Closes sockets without a closing handshake (the server sees 1006). */
function drop(sockets) {
  for (const ws of sockets) ws.terminate();
}

/** Resolves once no socket received a frame for `quietMs` (or at `capMs`). */
export async function quiesce(counter, quietMs = 300, capMs = 30_000) {
  const end = performance.now() + capMs;
  let last = counter.value;
  let since = performance.now();
  while (performance.now() < end) {
    await sleep(50);
    if (counter.value !== last) {
      last = counter.value;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return true;
    }
  }
  return false;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Workload 1, seed ping-pong: `clients` sockets on `/websocket`, each sends
 * `frames` text frames one at a time, the next when the reply arrives.
 */
export async function pingPong(ws, { clients, frames, capMs }) {
  const { sockets, errors } = await openMany(() => `${ws}/websocket`, clients, { concurrency: 16 });
  const latencies = [];
  const start = performance.now();
  const deadline = start + capMs;
  let capped = false;
  await Promise.all(
    sockets.map(
      (socket, c) =>
        new Promise((resolve) => {
          let sent = 0;
          let at = 0;
          const send = () => {
            if (sent === frames) return resolve();
            if (performance.now() > deadline) {
              capped = true;
              return resolve();
            }
            at = performance.now();
            socket.send(`c${c} f${sent++}`);
          };
          socket.on("message", () => {
            latencies.push(performance.now() - at);
            send();
          });
          socket.once("close", () => resolve());
          send();
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  drop(sockets);
  return {
    throughput: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    frames: latencies.length,
    errors: errors.length + (latencies.length < clients * frames ? 1 : 0),
    capped,
  };
}

/**
 * Workload 2, room broadcast: `clients` sockets in one room, each sends `say`
 * `frames` times, the next when its own message came back to it; everyone
 * gets every message. Throughput counts delivered frames (clients² × frames).
 */
export async function roomBroadcast(ws, { clients, frames, capMs }) {
  const room = `w2-${Date.now()}`;
  const received = { value: 0 };
  const { sockets, errors } = await openMany(
    (i) => `${ws}/rooms/${room}/websocket?name=c${i}`,
    clients,
    { concurrency: 16, setup: (socket) => socket.on("message", () => received.value++) },
  );
  await quiesce(received); // A's welcome and joined frames
  const base = received.value;
  const latencies = [];
  const start = performance.now();
  const deadline = start + capMs;
  let capped = false;
  await Promise.all(
    sockets.map(
      (socket, c) =>
        new Promise((resolve) => {
          let sent = 0;
          let at = 0;
          let token = "";
          const send = () => {
            if (sent === frames) return resolve();
            if (performance.now() > deadline) {
              capped = true;
              return resolve();
            }
            token = `"c${c}-${sent++}"`;
            at = performance.now();
            socket.send(`{"type":"say","text":${token}}`);
          };
          socket.on("message", (data) => {
            if (data.includes(token)) {
              latencies.push(performance.now() - at);
              send();
            }
          });
          socket.once("close", () => resolve());
          send();
        }),
    ),
  );
  const expected = latencies.length * sockets.length;
  while (received.value - base < expected && performance.now() < deadline + 5_000) await sleep(5);
  const seconds = (performance.now() - start) / 1000;
  const delivered = received.value - base;
  drop(sockets);
  return {
    throughput: delivered / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    frames: delivered,
    errors: errors.length + (delivered < clients * clients * frames ? 1 : 0),
    capped,
  };
}

/**
 * One `say` from `sender` to a room whose `sockets` all listen: resolves with
 * the ms until the last socket got it (and the p50, p99 over sockets), or with
 * how many were missing at `capMs`.
 */
async function fanoutOnce(sender, sockets, token, capMs) {
  let got = 0;
  const times = [];
  const start = performance.now();
  const needle = Buffer.from(token);
  const listeners = sockets.map((socket) => {
    let seen = false;
    const listener = (data) => {
      if (!seen && data.includes(needle)) {
        seen = true;
        got++;
        times.push(performance.now() - start);
      }
    };
    socket.on("message", listener);
    return listener;
  });
  sender.send(`{"type":"say","text":${token}}`);
  const end = start + capMs;
  while (got < sockets.length && performance.now() < end) await sleep(1);
  sockets.forEach((socket, i) => {
    socket.off("message", listeners[i]);
  });
  return {
    lastMs: got === sockets.length ? times[times.length - 1] : Number.NaN,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    missing: sockets.length - got,
  };
}

/**
 * Workload 3, fan-out: up to `count` sockets join one room within `capMs`,
 * then one of them sends `repeats` frames, one at a time; each is timed until
 * every socket that joined has it (at most 10 s each).
 */
export async function fanout(ws, { count, repeats, capMs }) {
  const room = `w3-${Date.now()}`;
  const received = { value: 0 };
  const deadline = performance.now() + capMs;
  const { sockets, errors } = await openMany(
    (i) => `${ws}/rooms/${room}/websocket?name=f${i}`,
    count,
    { concurrency: 32, deadline, setup: (socket) => socket.on("message", () => received.value++) },
  );
  await quiesce(received, 300, 20_000);
  const runs = [];
  for (let r = 0; r < repeats; r++) {
    runs.push(await fanoutOnce(sockets[0], sockets, `"fan-${r}"`, 10_000));
    await quiesce(received, 100, 5_000);
  }
  drop(sockets);
  const lasts = runs.map((run) => run.lastMs).filter(Number.isFinite);
  return {
    sockets: sockets.length,
    lastMs: percentile(lasts, 50),
    throughput: sockets.length / (percentile(lasts, 50) / 1000),
    p50: percentile(
      runs.map((run) => run.p50),
      50,
    ),
    p99: percentile(
      runs.map((run) => run.p99),
      50,
    ),
    errors: errors.length + runs.reduce((sum, run) => sum + run.missing, 0),
    capped: sockets.length < count || runs.length < repeats,
  };
}

/**
 * Workload 4, ramp: opens up to `target` sockets in one room (one Durable
 * Object) within `capMs`, socket i through `bases[i % bases.length]` (the
 * variant itself, or pass-through fronts that forward to it), counting failed
 * handshakes and sockets the server closed; then one broadcast to all that are
 * held, timed to the last delivery. `guard()`, asked before each handshake,
 * returns a reason to stop opening (the descriptor guard); that is not an error.
 */
export async function ramp(bases, { target, capMs, concurrency = 32, guard }) {
  const urls = [bases].flat();
  const room = `w4-${Date.now()}`;
  const received = { value: 0 };
  const closed = { value: 0, codes: new Map() };
  const start = performance.now();
  const deadline = start + capMs;
  let stoppedBy;
  const { sockets, errors } = await openMany(
    (i) => `${urls[i % urls.length]}/rooms/${room}/websocket?name=r${i}`,
    target,
    {
      concurrency,
      deadline,
      stop: () => {
        stoppedBy ??= guard?.();
        return stoppedBy !== undefined;
      },
      setup: (socket) => {
        socket.on("message", () => received.value++);
        socket.once("close", (code) => {
          closed.value++;
          closed.codes.set(code, (closed.codes.get(code) ?? 0) + 1);
        });
      },
    },
  );
  const rampSeconds = (performance.now() - start) / 1000;
  const capped =
    sockets.length < target && stoppedBy === undefined && performance.now() >= deadline;
  const settled = await quiesce(received, 500, 20_000);
  const open = sockets.filter((socket) => socket.readyState === WebSocket.OPEN);
  const broadcast =
    open.length > 0
      ? await fanoutOnce(open[0], open, '"ramp-broadcast"', 30_000)
      : { lastMs: Number.NaN, missing: 0 };
  // No drop() here: closing thousands of room members makes the server send
  // O(n²) `left` frames; the caller stops the dev server instead.
  return {
    sockets: sockets.length,
    held: open.length - broadcast.missing,
    target,
    rampSeconds,
    joinsPerSecond: sockets.length / rampSeconds,
    broadcastMs: broadcast.lastMs,
    settled,
    errors: errors.length + closed.value + broadcast.missing,
    errorSamples: [
      ...new Set([
        ...errors.slice(0, 5),
        ...[...closed.codes].map(([code, n]) => `${n} closed by server with ${code}`),
        ...(broadcast.missing ? [`${broadcast.missing} missed the broadcast`] : []),
      ]),
    ],
    capped,
    stoppedBy,
    room,
    sockets_: sockets,
  };
}

/**
 * Workload 5, wake cost: `rooms` rooms of one socket each, `warm` round trips
 * in each; then the objects are left idle (wrangler dev evicts an idle object
 * after ~10 s; the sockets stay open, hibernated) while the caller may load
 * other objects; `finish()` waits out `idleMs` and times the first round trip
 * in each room, one room at a time, 250 ms apart. The stats request after each
 * tells whether the reply came from a new instance: `firstMs` is the median
 * over the confirmed wakes only (NaN if none), `woke` how many were confirmed.
 */
export async function wake(ws, http, { warm, idleMs, rooms }) {
  const stamp = Date.now();
  const opened = [];
  for (let r = 0; r < rooms; r++) opened.push(await wakeRoom(ws, `w5-${stamp}-${r}`));
  const warmTimes = [];
  for (const { roundTrip } of opened) {
    for (let i = 0; i < warm; i++) warmTimes.push(await roundTrip());
  }
  const idleFrom = Date.now();
  return {
    async finish() {
      await sleep(Math.max(0, idleFrom + idleMs - Date.now()));
      const firsts = [];
      for (const { room, socket, roundTrip } of opened) {
        const ms = await roundTrip();
        const stats = await (await fetch(`${http}/rooms/${room}`)).json();
        if (Number(stats.instance_started_at) >= idleFrom) firsts.push(ms);
        socket.terminate();
        await sleep(250);
      }
      const warmP50 = percentile(warmTimes, 50);
      const firstMs = percentile(firsts, 50);
      return { warmP50, firstMs, ratio: firstMs / warmP50, woke: firsts.length, rooms, firsts };
    },
  };
}

/**
 * One room of workload 5: a socket, its welcome read (A sends one; B and C
 * send nothing on join, so at most 300 ms are waited), and `roundTrip()`,
 * which sends a `say` and times the first frame that carries its text back.
 */
async function wakeRoom(ws, room) {
  const socket = await connect(`${ws}/rooms/${room}/websocket?name=w`);
  let waiting;
  let first = true;
  socket.on("message", (data) => {
    first = false;
    if (waiting && String(data).includes('"wake"')) {
      const done = waiting;
      waiting = undefined;
      done();
    }
  });
  const roundTrip = async () => {
    const at = performance.now();
    await new Promise((resolve, reject) => {
      waiting = resolve;
      socket.send('{"type":"say","text":"wake"}');
      setTimeout(() => reject(new Error(`${room}: no reply in 15 s`)), 15_000).unref();
    });
    return performance.now() - at;
  };
  const until = performance.now() + 300;
  while (first && performance.now() < until) await sleep(10);
  return { room, socket, roundTrip };
}

/**
 * Workload 8, the idle reaper (A only, against a server whose
 * IDLE_TIMEOUT_SECONDS is `timeoutS`): what the alarm that closes dead
 * sockets costs a room that is alive, and how soon a dead client's `left`
 * comes. Every live client pings every `pingMs` (RoomClient's default is a
 * quarter of the default timeout; the bench keeps that ratio), which the
 * runtime answers without waking anything, so in a room of live clients
 * the alarm is the only thing that runs.
 *
 * 1. Baseline: `rooms` sockets on `/websocket` ping for `baselineMs` (no
 *    alarm there): the CPU the pings cost the runtime.
 * 2. `rooms` rooms of one pinging member each, and `ghosts` rooms of a
 *    pinging observer and a ghost that joins and then says nothing (its
 *    death is its join). Over `windowMs`: each room's `wakes` (one per
 *    alarm run, the runs being further apart than wrangler dev's 10 s
 *    eviction) and the runtime's CPU above the baseline's rate; the time
 *    from each ghost's join to its observer's `left`.
 *
 * `cpuMs()` reads the CPU time of the server's workerd processes.
 */
export async function reaper(
  ws,
  http,
  { rooms, ghosts, pingMs, timeoutS, baselineMs, windowMs, cpuMs },
) {
  const stamp = Date.now();
  const pinging = (sockets) =>
    setInterval(() => {
      for (const socket of sockets) socket.send("ping");
    }, pingMs);
  const stats = async (room) => (await fetch(`${http}/rooms/${room}`)).json();

  const echo = (await openMany(() => `${ws}/websocket`, rooms, { concurrency: 16 })).sockets;
  let timer = pinging(echo);
  let at = performance.now();
  let cpu = cpuMs();
  await sleep(baselineMs);
  const baselineRate = (cpuMs() - cpu) / (performance.now() - at);
  clearInterval(timer);
  drop(echo);
  await sleep(1_000);

  const name = (i) => `w8-${stamp}-${i}`;
  const members = (await openMany((i) => `${ws}/rooms/${name(i)}/websocket?name=m`, rooms)).sockets;
  const observers = [];
  const ghostSockets = [];
  const deaths = [];
  for (let g = 0; g < ghosts; g++) {
    const room = `w8-${stamp}-ghost-${g}`;
    const observer = await connect(`${ws}/rooms/${room}/websocket?name=observer`);
    observers.push(observer);
    ghostSockets.push(await connect(`${ws}/rooms/${room}/websocket?name=ghost`));
    const diedAt = performance.now();
    deaths.push(
      new Promise((resolve) => {
        observer.on("message", (data) => {
          if (String(data).includes('"type":"left"')) resolve(performance.now() - diedAt);
        });
        setTimeout(() => resolve(Number.NaN), 3 * timeoutS * 1000).unref();
      }),
    );
  }
  timer = pinging([...members, ...observers]);
  const before = await Promise.all(members.map((_, i) => stats(name(i))));
  at = performance.now();
  cpu = cpuMs();
  await sleep(windowMs);
  const cpuUsed = cpuMs() - cpu;
  const window = performance.now() - at;
  const askedAt = Date.now();
  const after = await Promise.all(members.map((_, i) => stats(name(i))));
  clearInterval(timer);
  const toLeft = await Promise.all(deaths);
  drop([...members, ...observers, ...ghostSockets]);
  // A room's last request for stats may have created its instance.
  const runs = after.reduce(
    (sum, a, i) =>
      sum + a.wakes - before[i].wakes - (Number(a.instance_started_at) >= askedAt ? 1 : 0),
    0,
  );
  const reaperCpuMs = Math.max(0, cpuUsed - baselineRate * window);
  const perRoomHour = (runs / members.length) * (3_600_000 / window);
  // Everything scales with the timeout when the pings do: at the default
  // (120 s, RoomClient pinging every 30 s) the alarm runs timeoutS/120 as often.
  const atDefault = perRoomHour * (timeoutS / 120);
  const cpuPerRun = runs > 0 ? reaperCpuMs / runs : Number.NaN;
  const toLeftMs = percentile(toLeft.filter(Number.isFinite), 50);
  return {
    rooms: members.length,
    window,
    runs,
    runsPerRoomHour: perRoomHour,
    wakesPerRoomHourAtDefault: atDefault,
    cpuPerRunMs: cpuPerRun,
    cpuMsPerRoomHourAtDefault: cpuPerRun * atDefault,
    baselineCpuMsPerSecond: baselineRate * 1000,
    toLeftMs,
    toLeftInTimeouts: toLeftMs / (timeoutS * 1000),
    toLeftAtDefaultS: (toLeftMs / (timeoutS * 1000)) * 120,
    ghostsLeft: toLeft.filter(Number.isFinite).length,
    ghosts,
  };
}

/**
 * Opens a socket that keeps its frames as parsed JSON from the start (a
 * listener added once `open` resolves could miss the frames that came with
 * the 101); `next(what, match)` awaits the next one `match` accepts.
 */
async function openReading(url) {
  const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
  const reader = frames(socket);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  return { socket, next: reader.next };
}

/** Frames of a `ws` socket as parsed JSON, awaited by a predicate with a timeout. */
function frames(socket) {
  const seen = [];
  const waiting = [];
  socket.on("message", (data) => {
    seen.push(JSON.parse(String(data)));
    for (const waiter of waiting.splice(0)) waiter();
  });
  /** The first frame (after those already taken) for which `match` is true. */
  let taken = 0;
  const next = (what, match, ms = 15_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} in ${ms} ms`)), ms);
      const check = () => {
        while (taken < seen.length) {
          const frame = seen[taken++];
          if (match(frame)) {
            clearTimeout(timer);
            return resolve(frame);
          }
        }
        waiting.push(check);
      };
      check();
    });
  return { next };
}

/** The room's `history_rows_written` (A's stats; 0 where a variant has none). */
async function rowsWritten(http, room) {
  const stats = await (await fetch(`${http}/rooms/${room}`)).json();
  return Number(stats.history_rows_written ?? 0);
}

/**
 * Workload 9, history (A only): in a fresh room a speaker says `fill`
 * messages, one at a time, while a listener gets them; the listener's
 * connection then vanishes (no Close), the speaker says `missed` more, and
 * the listener comes back with `?since=&epoch=`. `resumeMs` is the time from
 * the start of its handshake to its `history` frame (which must be recovered
 * and carry exactly the `missed` messages). The room's `history_rows_written`
 * gives the storage rows written per message while the room fills
 * (`rowsFilling`) and once it keeps HISTORY_LIMIT messages (`rowsFull`: the
 * message, and the oldest it forgets); `sayMs` is the speaker's p50 round trip.
 */
export async function historyResume(ws, http, { fill, missed }) {
  const room = `w9-${Date.now()}`;
  const url = `${ws}/rooms/${room}/websocket`;
  const { socket: speaker, ...said } = await openReading(`${url}?name=s`);
  await said.next("a welcome", (f) => f.type === "welcome");
  const { socket: listener, ...heard } = await openReading(`${url}?name=l`);
  const welcome = await heard.next("a welcome", (f) => f.type === "welcome");
  if (welcome.epoch === undefined) throw new Error("w8: the room keeps no history");
  const times = [];
  const say = async (text) => {
    const at = performance.now();
    speaker.send(JSON.stringify({ type: "say", text }));
    const frame = await said.next(
      `message ${text}`,
      (f) => f.type === "message" && f.text === text,
    );
    times.push(performance.now() - at);
    return frame;
  };
  const start = await rowsWritten(http, room);
  let last;
  for (let i = 0; i < fill; i++) last = await say(`fill ${i}`);
  await heard.next("the last fill", (f) => f.type === "message" && f.seq === last.seq);
  const filled = await rowsWritten(http, room);
  listener.terminate();
  for (let i = 0; i < missed; i++) await say(`missed ${i}`);
  const full = await rowsWritten(http, room);
  const at = performance.now();
  const back = await openReading(`${url}?name=l&since=${last.seq}&epoch=${welcome.epoch}`);
  const history = await back.next("a history", (f) => f.type === "history");
  const resumeMs = performance.now() - at;
  back.socket.terminate();
  speaker.terminate();
  const exact = history.recovered && history.messages.length === missed;
  return {
    resumeMs,
    recovered: history.recovered,
    replayed: history.messages.length,
    rowsFilling: (filled - start) / fill,
    rowsFull: (full - filled) / missed,
    sayMs: percentile(times, 50),
    errors: exact ? 0 : 1,
  };
}
