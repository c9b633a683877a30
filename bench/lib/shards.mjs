// Workload 10 of `npm run bench` (A only): rooms larger than one object
// (rust/src/shard.rs). Two parts, each against its own `wrangler dev`:
//
// - `shardedBroadcast`: one room of `sockets` members spread over a given
//   number of shards; the time for one broadcast to reach the last socket,
//   said by a member of shard 0 (the sequencer) and by one of the last shard
//   (one more hop: its say is published to shard 0 first). Every socket's
//   `message` frames are counted: each must arrive exactly once, in one order.
// - `shardHops`: rooms of one member per object (object cap 1). In a room of
//   2 shards, what one hop between objects costs a message; in rooms of 1, 2, 4
//   and 8 shards, how fast shard 0 numbers, stores and hands out messages, and
//   the runtime's CPU per message.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { openMany, quiesce, sleep } from "./client.mjs";
import { percentile } from "./stats.mjs";

const MESSAGE = Buffer.from('{"type":"message"');
const WELCOME = Buffer.from('{"type":"welcome"');

/** The shard a member id names: `k~…` on shard k, shard 0 without. */
const shardOf = (id) => Number(/^(\d+)~/.exec(id)?.[1] ?? 0);

/**
 * Listens to a room socket from its first frame: its id and shard (from the
 * welcome) and the seq of every `message` frame it gets, in order; `hook`,
 * when set, sees every message frame with its arrival time.
 */
function member(ws, counter) {
  const m = { ws, id: undefined, shard: -1, seqs: [], hook: undefined };
  ws.on("message", (data) => {
    counter.value++;
    if (data.subarray(0, MESSAGE.length).equals(MESSAGE)) {
      const at = performance.now();
      const text = String(data);
      m.seqs.push(Number(/"seq":(\d+)/.exec(text)?.[1] ?? Number.NaN));
      m.hook?.(text, at);
    } else if (data.subarray(0, WELCOME.length).equals(WELCOME)) {
      m.id = /"id":"([^"]+)"/.exec(String(data))?.[1];
      m.shard = m.id === undefined ? -1 : shardOf(m.id);
    }
  });
  return m;
}

/**
 * Opens a room socket with `member` listening from before the upgrade
 * completes (the welcome may come in the same packet as the 101, before a
 * listener added once `open` resolves).
 */
function openMember(url, counter) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    const m = member(ws, counter);
    ws.once("open", () => {
      ws.removeAllListeners("error");
      ws.on("error", () => {});
      resolve(m);
    });
    ws.once("error", reject);
  });
}

/**
 * One `say` of `text` by `sender`, timed until every member got it (NaN if
 * some did not within `capMs`); then a quiet moment, after which a member
 * that got it twice counts as a duplicate.
 */
async function broadcastOnce(sender, members, text, counter, capMs) {
  const needle = `"text":${JSON.stringify(text)}`;
  const got = new Map();
  let last = 0;
  const start = performance.now();
  for (const m of members) {
    m.hook = (frame, at) => {
      if (!frame.includes(needle)) return;
      got.set(m, (got.get(m) ?? 0) + 1);
      last = Math.max(last, at);
    };
  }
  sender.ws.send(JSON.stringify({ type: "say", text }));
  const end = start + capMs;
  while (got.size < members.length && performance.now() < end) await sleep(1);
  const lastMs = got.size === members.length ? last - start : Number.NaN;
  await quiesce(counter, 300, 10_000);
  for (const m of members) m.hook = undefined;
  const duplicates = [...got.values()].reduce((sum, n) => sum + n - 1, 0);
  return { lastMs, missing: members.length - got.size, duplicates };
}

/**
 * Whether every member got the same messages, each once, in seq order: the
 * number of members whose list differs from the sender's (which is strictly
 * increasing).
 */
function outOfOrder(members, reference) {
  const want = reference.seqs.join(",");
  const increasing = reference.seqs.every((s, i) => i === 0 || s > reference.seqs[i - 1]);
  return members.filter((m) => m.seqs.join(",") !== want).length + (increasing ? 0 : 1);
}

/**
 * Part 1: `sockets` members of one fresh room on a server whose object cap
 * spreads them over `shards` objects, opened through `bases` (the fronts, or
 * the server) with the descriptor guard; `repeats` broadcasts from a member
 * of shard 0, then one from a member of the last shard.
 */
export async function shardedBroadcast(bases, http, { sockets, shards, repeats, capMs, guard }) {
  const urls = [bases].flat();
  const room = `w10-${shards}-${Date.now()}`;
  const counter = { value: 0 };
  const start = performance.now();
  let stoppedBy;
  const { sockets: members, errors } = await openMany(
    (i) => `${urls[i % urls.length]}/rooms/${room}/websocket?name=s${i}`,
    sockets,
    {
      concurrency: 32,
      deadline: start + capMs,
      stop: () => {
        stoppedBy ??= guard?.();
        return stoppedBy !== undefined;
      },
      open: (url) => openMember(url, counter),
    },
  );
  const rampSeconds = (performance.now() - start) / 1000;
  await quiesce(counter, 500, 20_000);
  const open = members.filter((m) => m.ws.readyState === WebSocket.OPEN && m.id !== undefined);
  const stats = await (await fetch(`${http}/rooms/${room}`)).json();
  const perShard = (stats.shards ?? []).map(({ shard, connections }) => [shard, connections]);
  const leader = open.find((m) => m.shard === 0);
  const lastShard = Math.max(...open.map((m) => m.shard));
  const follower = open.findLast((m) => m.shard === lastShard);
  const runs = [];
  for (let r = 0; leader && r < repeats; r++) {
    runs.push(await broadcastOnce(leader, open, `w10 ${r}`, counter, 30_000));
  }
  const fromFollower =
    follower && lastShard > 0
      ? await broadcastOnce(follower, open, "w10 follower", counter, 30_000)
      : undefined;
  const disorder = leader ? outOfOrder(open, leader) : open.length;
  const lasts = runs.map((run) => run.lastMs);
  const faults = [...runs, fromFollower].filter(Boolean);
  // No close here: the caller stops the server (as workload 4 does).
  return {
    shards,
    shardsSeen: perShard.length || 1,
    perShard,
    sockets: members.length,
    held: open.length,
    connections: stats.connections,
    joinsPerSecond: members.length / rampSeconds,
    lastMs: percentile(lasts, 50),
    lastsMs: lasts,
    followerLastMs: fromFollower?.lastMs ?? Number.NaN,
    missing: faults.reduce((sum, run) => sum + run.missing, 0),
    duplicates: faults.reduce((sum, run) => sum + run.duplicates, 0),
    disorder,
    errors: errors.length,
    errorSamples: [...new Set(errors.slice(0, 5))],
    stoppedBy,
    sockets_: members.map((m) => m.ws),
  };
}

/** Opens `count` members of `room` one at a time (so each shard gets exactly one). */
async function joinInOrder(ws, room, count, counter) {
  const list = [];
  for (let i = 0; i < count; i++) {
    const m = await openMember(`${ws}/rooms/${room}/websocket?name=h${i}`, counter);
    list.push(m);
    const until = performance.now() + 5_000;
    while (m.id === undefined && performance.now() < until) await sleep(2);
  }
  return list;
}

/** Shard 0's `history_rows_written`: every SQLite row its running instance wrote. */
async function rowsWritten(http, room) {
  return Number((await (await fetch(`${http}/rooms/${room}`)).json()).history_rows_written);
}

/** The next frame with `text` at each of `targets`: resolves with their arrival times. */
function arrivals(targets, text, ms = 10_000) {
  const needle = `"text":${JSON.stringify(text)}`;
  return Promise.all(
    targets.map(
      (m) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no "${text}" in ${ms} ms`)), ms);
          m.hook = (frame, at) => {
            if (!frame.includes(needle)) return;
            clearTimeout(timer);
            m.hook = undefined;
            resolve(at);
          };
        }),
    ),
  );
}

/**
 * Part 2, against a server with object cap 1 (each member its own shard):
 *
 * - hop: a room of 2 (shard 0's member L, shard 1's F); `says` times each of
 *   L and F say, one at a time. L's say reaches F one hop after L (shard 0
 *   delivers to shard 1); F's own echo takes two hops more than L's (F's say
 *   is published to shard 0, then delivered back).
 * - sequencer: for each N of `spans`, a room of N members (shards 0…N−1);
 *   L says `says` times, one at a time (p50 time to the last member), then
 *   L sends `burst` says back to back, timed until the last member has all
 *   of them: the messages per second shard 0 carries with N shards, and the
 *   runtime's CPU per message (`cpuMs()`: every workerd process of the
 *   server, all shards and the dev proxy together) and the SQLite rows
 *   shard 0 wrote per message (its `history_rows_written`).
 */
export async function shardHops(ws, http, { says, spans, burst, cpuMs }) {
  const counter = { value: 0 };
  const pair = await joinInOrder(ws, `w10-hop-${Date.now()}`, 2, counter);
  const [leader, follower] = pair;
  if (leader.shard !== 0 || follower.shard !== 1) {
    throw new Error(`w10 hop: members on shards ${leader.shard}, ${follower.shard}, not 0, 1`);
  }
  const leaderEcho = [];
  const followerEcho = [];
  const deliverHop = [];
  for (let i = 0; i < says; i++) {
    for (const [sender, echoes] of [
      [leader, leaderEcho],
      [follower, followerEcho],
    ]) {
      const text = `hop ${sender.shard} ${i}`;
      const at = performance.now();
      const arrived = arrivals(pair, text);
      sender.ws.send(JSON.stringify({ type: "say", text }));
      const [atLeader, atFollower] = await arrived;
      echoes.push((sender === leader ? atLeader : atFollower) - at);
      if (sender === leader) deliverHop.push(atFollower - atLeader);
    }
  }
  for (const m of pair) m.ws.terminate();
  const hop = {
    leaderEchoMs: percentile(leaderEcho, 50),
    followerEchoMs: percentile(followerEcho, 50),
    deliverHopMs: percentile(deliverHop, 50),
  };
  hop.twoHopsMs = hop.followerEchoMs - hop.leaderEchoMs;

  const sequencer = [];
  for (const n of spans) {
    const name = `w10-seq-${n}-${Date.now()}`;
    const room = await joinInOrder(ws, name, n, counter);
    const seen = room.map((m) => m.shard).join(",");
    if (seen !== room.map((_, k) => k).join(",")) {
      throw new Error(`w10 sequencer: ${n} members on shards ${seen}`);
    }
    await quiesce(counter, 300, 5_000);
    // One at a time first: the time from a say to its copy at the last member.
    const alone = [];
    for (let i = 0; i < says; i++) {
      const text = `one ${i}`;
      const at = performance.now();
      const arrived = arrivals(room, text);
      room[0].ws.send(JSON.stringify({ type: "say", text }));
      alone.push(Math.max(...(await arrived)) - at);
    }
    await quiesce(counter, 300, 5_000);
    const base = room.map((m) => m.seqs.length);
    const rows = await rowsWritten(http, name);
    const cpu = cpuMs();
    const start = performance.now();
    for (let i = 0; i < burst; i++) room[0].ws.send(JSON.stringify({ type: "say", text: `b${i}` }));
    const until = start + 60_000;
    const done = () => room.every((m, k) => m.seqs.length - base[k] >= burst);
    while (!done() && performance.now() < until) await sleep(1);
    const ms = performance.now() - start;
    const cpuUsed = cpuMs() - cpu;
    await quiesce(counter, 300, 5_000);
    const got = room.map((m, k) => m.seqs.length - base[k]);
    const rowsPerMessage = ((await rowsWritten(http, name)) - rows) / burst;
    sequencer.push({
      shards: n,
      lastMs: percentile(alone, 50),
      messagesPerSecond: done() ? (burst * 1000) / ms : Number.NaN,
      cpuPerMessageMs: cpuUsed / burst,
      rowsPerMessage,
      errors: got.filter((g) => g !== burst).length + outOfOrder(room, room[0]),
    });
    for (const m of room) m.ws.terminate();
  }
  return { ...hop, says, burst, sequencer };
}
