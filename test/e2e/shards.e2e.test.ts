// Against `wrangler dev`, on 127.0.0.1 only and bounded: a room larger than
// one object (rust/src/shard.rs). With objects of 100 and a room of 400, the
// room's 400 sockets fill shards 0–3; one `say` reaches every socket exactly
// once, and so does one said by a member of the last shard after every shard
// was left idle long enough for wrangler dev to evict it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame, Stats } from "../../pkg/core.js";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";

const PORT = 8837;
const OBJECT_CAP = 100;
const SHARDS = 4;
const MEMBERS = OBJECT_CAP * SHARDS;
/** Handshakes in flight at once. */
const CONCURRENCY = 16;
/** wrangler dev evicts an object after 10 s without an event; a little more. */
const IDLE_MS = 12_500;

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({
    port: PORT,
    inspectorPort: 9337,
    vars: {
      MAX_CONNECTIONS_PER_ROOM: String(MEMBERS),
      MAX_CONNECTIONS_PER_OBJECT: String(OBJECT_CAP),
      // At most the object cap, as a room that spans objects requires; small,
      // so that filling shard 0 pushes few `joined` frames.
      PRESENCE_LIMIT: "10",
      HISTORY_LIMIT: "100",
      // Longer than the test: no alarm wakes a shard while it idles.
      IDLE_TIMEOUT_SECONDS: "600",
    },
  });
});

afterAll(async () => {
  await server?.stop();
});

type Message = Extract<ServerFrame, { type: "message" }>;

interface Member {
  ws: WebSocket;
  id: string;
  /** The shard its id names: `k~…` on shard k, no `~` on shard 0. */
  shard: number;
  /** Every `message` frame it received, in order. */
  messages: Message[];
}

/** Opens a member's socket and reads its welcome; every frame is kept from the start. */
function open(room: string, name: string): Promise<Member> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.ws}/rooms/${room}/websocket?name=${name}`);
    const messages: Message[] = [];
    const timer = setTimeout(() => reject(new Error(`${name}: no welcome in 15 s`)), 15_000);
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as ServerFrame;
      if (frame.type === "message") messages.push(frame);
      else if (frame.type === "welcome") {
        clearTimeout(timer);
        const shard = /^(\d+)~/.exec(frame.id);
        resolve({ ws, id: frame.id, shard: shard ? Number(shard[1]) : 0, messages });
      }
    });
    ws.addEventListener("error", () => {
      clearTimeout(timer);
      reject(new Error(`${name}: the upgrade failed`));
    });
  });
}

/** Opens `count` members, `CONCURRENCY` handshakes at a time, in index order. */
async function fill(room: string, count: number): Promise<Member[]> {
  const members: Member[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      members[i] = await open(room, `m${i}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return members;
}

async function stats(room: string): Promise<Stats> {
  return (await fetch(`${server.http}/rooms/${room}`)).json() as Promise<Stats>;
}

/**
 * Waits until every member holds `count` messages (failing after `ms` with
 * how many fall short), then a quiet moment in which none may get more.
 */
async function everyoneHas(members: Member[], count: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  const short = () => members.filter((m) => m.messages.length < count);
  while (short().length > 0) {
    if (Date.now() > until) {
      throw new Error(`${short().length} of ${members.length} sockets lack message ${count}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const over = members.filter((m) => m.messages.length > count);
  expect(over.map((m) => `${m.id}: ${m.messages.map((x) => x.seq)}`)).toEqual([]);
}

/** Per shard, its members and wakes, in shard order. */
const perShard = (s: Stats) => s.shards.map(({ shard, connections }) => [shard, connections]);

describe(`a room of ${MEMBERS} on objects of ${OBJECT_CAP}, under wrangler dev`, () => {
  it("spreads over 4 shards; a say reaches every socket exactly once, and after every shard was evicted a say from the last shard does too, in one order", async () => {
    const room = `shards-${crypto.randomUUID()}`;
    const members = await fill(room, MEMBERS);
    try {
      const onShard = (k: number) => members.filter((m) => m.shard === k);
      expect(Array.from({ length: SHARDS }, (_, k) => onShard(k).length)).toEqual([
        OBJECT_CAP,
        OBJECT_CAP,
        OBJECT_CAP,
        OBJECT_CAP,
      ]);
      const before = await stats(room);
      expect(before.connections).toBe(MEMBERS);
      expect(perShard(before)).toEqual([
        [0, OBJECT_CAP],
        [1, OBJECT_CAP],
        [2, OBJECT_CAP],
        [3, OBJECT_CAP],
      ]);
      for (const shard of before.shards) expect(shard.wakes).toBeGreaterThanOrEqual(1);

      // A say from shard 0, the sequencer: to every socket once.
      const [first] = onShard(0);
      first.ws.send(JSON.stringify({ type: "say", text: "warm" }));
      await everyoneHas(members, 1);
      const warm = first.messages[0];
      expect(warm).toMatchObject({ id: first.id, text: "warm" });
      for (const member of members) expect(member.messages).toEqual([warm]);

      // Every shard idles past wrangler dev's eviction; the sockets stay open.
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      const last = onShard(SHARDS - 1)[OBJECT_CAP - 1];
      last.ws.send(JSON.stringify({ type: "say", text: "after the idle" }));
      await everyoneHas(members, 2);
      const after = last.messages[1];
      expect(after).toMatchObject({ id: last.id, text: "after the idle" });
      expect(after.seq).toBeGreaterThan(warm.seq ?? 0);
      for (const member of members) expect(member.messages).toEqual([warm, after]);

      // Each shard was evicted: an instance that found its sockets open was counted.
      const woken = await stats(room);
      expect(perShard(woken)).toEqual(perShard(before));
      woken.shards.forEach((shard, k) => {
        expect(shard.wakes, `shard ${k}`).toBeGreaterThan(before.shards[k].wakes);
      });
      expect(uncaughtErrors(server.output())).toEqual([]);
    } finally {
      for (const member of members) member.ws.close(1000);
    }
  }, 90_000);
});
