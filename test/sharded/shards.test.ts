// Rooms larger than one object (rust/src/shard.rs): in this project a room
// holds up to 10 members on objects of 3 (test/sharded/vars.ts), so its
// members spread over shard 0 (the room's own object) and shards 1–3 (the
// objects `{room}#1`…). Every member must see the room's messages exactly
// once, in one order, whatever shard it is on and whatever object is evicted.
import { evictDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { freshRoom, join, joinAt, type Member, stats } from "../worker/room";

type Message = Extract<ServerFrame, { type: "message" }>;

/** The object of shard `shard` of `room`. */
function shardStub(room: string, shard: number) {
  return env.WEBSOCKET_HIBERNATION_SERVER.getByName(shard === 0 ? room : `${room}#${shard}`);
}

/** The shard a member's id says it is on: `k~…` on shard k, shard 0 without. */
function shardOf(id: string): number {
  const match = /^(\d+)~/.exec(id);
  return match === null ? 0 : Number(match[1]);
}

/** Joins `count` members one after the other, named m0, m1, … */
async function fill(room: string, count: number, from = 0): Promise<Member[]> {
  const members: Member[] = [];
  for (let i = from; i < from + count; i++) members.push(await join(room, `m${i}`));
  return members;
}

/**
 * The next `count` frames of `type` that `member` receives, skipping presence
 * frames (a room on one object still pushes `joined`/`left` while small), then
 * nothing more of that type for `quietMs`.
 */
async function framesOf<T extends ServerFrame["type"]>(
  member: Member,
  type: T,
  count: number,
  quietMs = 300,
): Promise<Extract<ServerFrame, { type: T }>[]> {
  const frames: Extract<ServerFrame, { type: T }>[] = [];
  const skipped = new Set(["joined", "left"]);
  while (frames.length < count) {
    const frame = await member.next(5_000);
    if (frame.type === type) frames.push(frame as Extract<ServerFrame, { type: T }>);
    else if (!skipped.has(frame.type))
      throw new Error(`expected ${type}, got ${JSON.stringify(frame)}`);
  }
  for (;;) {
    let frame: ServerFrame;
    try {
      frame = await member.next(quietMs);
    } catch {
      return frames;
    }
    if (frame.type === type) throw new Error(`one ${type} too many: ${JSON.stringify(frame)}`);
  }
}

/** Every member's messages, each list in the order received. */
async function everyonesMessages(members: Member[], count: number): Promise<Message[][]> {
  return Promise.all(members.map((member) => framesOf(member, "message", count)));
}

/** Asserts that every member got the same `count` messages, in one order, each once. */
function expectOneOrder(logs: Message[][], texts: string[]): void {
  const [first] = logs;
  for (const log of logs) expect(log).toEqual(first);
  expect(first.map((m) => m.text).sort()).toEqual([...texts].sort());
  const seqs = first.map((m) => m.seq ?? 0);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
}

/** Pages through the whole room with `who` from `asker`; every page's count. */
async function wholeRoster(asker: Member): Promise<{ ids: string[]; counts: number[] }> {
  const ids: string[] = [];
  const counts: number[] = [];
  let after: string | undefined;
  for (let page = 0; page < 20; page++) {
    asker.send(after === undefined ? { type: "who" } : { type: "who", after });
    const [roster] = await framesOf(asker, "roster", 1, 50);
    expect(roster.connections.length).toBeLessThanOrEqual(3);
    ids.push(...roster.connections.map((peer) => peer.id));
    counts.push(roster.count);
    if (roster.next === undefined) return { ids, counts };
    after = roster.next;
  }
  throw new Error("the roster never ended");
}

describe("a room of 10 on objects of 3", () => {
  it("B59 an upgrade that sets the header shard 0 hands upgrades over with (X-Room-Count) is counted as any other", async () => {
    const room = freshRoom();
    const a = await join(room, "a");
    const b = await joinAt(`/rooms/${room}/websocket?name=b`, {
      headers: { "X-Room-Count": "999" },
    });
    expect([a.welcome.count, b.welcome.count]).toEqual([1, 2]);
    const members = await fill(room, 3, 2);
    // Also on another shard: the count there is shard 0's.
    expect(shardOf(members[1].id)).toBe(1);
    expect(members.map((m) => m.welcome.count)).toEqual([3, 4, 5]);
  });

  it("spreads over shards 0–3 and refuses the 11th member with 503 room_full; stats count per shard", async () => {
    const room = freshRoom();
    const members = await fill(room, 10);
    expect(members.map((m) => shardOf(m.id))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    // A welcome counts the whole room.
    expect(members.map((m) => m.welcome.count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const refused = await exports.default.fetch(`http://example.com/rooms/${room}/websocket`, {
      headers: { Upgrade: "websocket" },
    });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: "room_full" } });
    // The answer the client gets never shows the header shards count with.
    const more = await stats(room);
    expect(more.connections).toBe(10);
    expect(more.shards.map(({ shard, connections }) => [shard, connections])).toEqual([
      [0, 3],
      [1, 3],
      [2, 3],
      [3, 1],
    ]);
    for (const shard of more.shards) expect(shard.wakes).toBeGreaterThanOrEqual(1);
  });

  it("delivers a say from every shard to all 10 exactly once, in one order", async () => {
    const room = freshRoom();
    const members = await fill(room, 10);
    const texts = members.map((_, i) => `from m${i}`);
    members.forEach((member, i) => {
      member.send({ type: "say", text: texts[i] });
    });
    const logs = await everyonesMessages(members, 10);
    expectOneOrder(logs, texts);
    expect(logs[0].map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Each message names its sender, wherever the sender is.
    for (const message of logs[0]) {
      const sender = members[texts.indexOf(message.text)];
      expect(message).toMatchObject({ id: sender.id, name: sender.name });
    }
  });

  it("B58 whispers across shards; a whisper to an id on a shard the room does not have, or not on its shard, gets unknown_recipient", async () => {
    const room = freshRoom();
    const members = await fill(room, 10);
    const [first, , , fourth, , , seventh, , , last] = members;
    for (const [from, to] of [
      [last, first],
      [first, last],
      [fourth, seventh],
    ]) {
      from.send({ type: "whisper", to: to.id, text: `psst ${to.name}` });
      expect(await framesOf(to, "whisper", 1, 50)).toEqual([
        expect.objectContaining({ id: from.id, name: from.name, text: `psst ${to.name}` }),
      ]);
    }
    for (const to of ["2~nobody123", "99~AAAAAAAAAAAA", "nobody12345"]) {
      fourth.send({ type: "whisper", to, text: "?" });
      expect(await framesOf(fourth, "error", 1, 50)).toEqual([
        expect.objectContaining({ code: "unknown_recipient" }),
      ]);
    }
  });

  it("pages who through every shard: all 10 once, in one order, the room's count on every page; count right after leaves", async () => {
    const room = freshRoom();
    const members = await fill(room, 10);
    for (const asker of [members[0], members[9]]) {
      const { ids, counts } = await wholeRoster(asker);
      expect(ids).toEqual(members.map((m) => m.id));
      expect(new Set(counts)).toEqual(new Set([10]));
    }
    // Two leave, on two shards: the count follows.
    members[4].client.close(1000, "bye");
    members[1].client.close(1000, "bye");
    const left = new Set([members[4].id, members[1].id]);
    const rest = members.filter((m) => !left.has(m.id));
    await expect.poll(async () => (await stats(room)).connections, { timeout: 5_000 }).toBe(8);
    const { ids, counts } = await wholeRoster(rest[7]);
    expect(ids).toEqual(rest.map((m) => m.id));
    expect(new Set(counts)).toEqual(new Set([8]));
  });

  it("B56 an object of the room evicted in the middle of traffic (each shard in turn) loses and duplicates nothing", async () => {
    const room = freshRoom();
    const members = await fill(room, 10);
    const texts: string[] = [];
    for (let round = 0; round < 4; round++) {
      members.forEach((member, i) => {
        const text = `r${round} m${i}`;
        texts.push(text);
        member.send({ type: "say", text });
      });
      // Evict one shard each round, while its messages are on their way.
      await evictDurableObject(shardStub(room, round));
    }
    const logs = await everyonesMessages(members, texts.length);
    expectOneOrder(logs, texts);
    // And the room goes on: one more message, to everyone once.
    members[9].send({ type: "say", text: "after" });
    const after = await everyonesMessages(members, 1);
    for (const [message] of after) expect(message).toMatchObject({ text: "after", seq: 41 });
  });

  it("B55 15 upgrades racing into a room of 10 on 4 objects: exactly 10 admitted, 5 get 503 room_full", async () => {
    const room = freshRoom();
    const answers = await Promise.all(
      Array.from({ length: 15 }, () =>
        exports.default.fetch(`http://example.com/rooms/${room}/websocket`, {
          headers: { Upgrade: "websocket" },
        }),
      ),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses.filter((s) => s === 101)).toHaveLength(10);
    expect(statuses.filter((s) => s === 503)).toHaveLength(5);
    for (const answer of answers) answer.webSocket?.accept();
    expect((await stats(room)).connections).toBe(10);
  });

  it("refills an emptied shard, which catches up with what was said meanwhile", async () => {
    const room = freshRoom();
    const members = await fill(room, 4);
    const [a, b, c, d] = members;
    expect(shardOf(d.id)).toBe(1);
    a.send({ type: "say", text: "one" });
    await everyonesMessages(members, 1);
    d.client.close(1000, "bye");
    await expect
      .poll(async () => (await stats(room)).shards.find((s) => s.shard === 1)?.connections, {
        timeout: 5_000,
      })
      .toBe(0);
    // Said while shard 1 has nobody: it is not delivered there…
    b.send({ type: "say", text: "two" });
    await everyonesMessages([a, b, c], 1);
    // …but the next member there sees it in its history, and what follows.
    const e = await join(room, "e");
    expect(shardOf(e.id)).toBe(1);
    expect(e.welcome).toMatchObject({ count: 4, seq: 2 });
    expect(e.history?.messages.map((m) => m.text)).toEqual(["one", "two"]);
    c.send({ type: "say", text: "three" });
    const logs = await everyonesMessages([a, b, c, e], 1);
    for (const [message] of logs) expect(message).toMatchObject({ text: "three", seq: 3 });
  });

  it("B57 a call between objects tried again is carried out once: a message published twice, a delivery made twice", async () => {
    const room = freshRoom();
    const members = await fill(room, 4);
    const [a, , , d] = members;
    // What shard 1 calls on shard 0 for d's say, sent twice as a retry would.
    const leader = shardStub(room, 0);
    for (let attempt = 0; attempt < 2; attempt++) {
      await leader.publish("1.12345.1", d.id, d.name, "once", 1_700_000_000_000);
    }
    const logs = await everyonesMessages(members, 1);
    for (const [message] of logs) expect(message).toMatchObject({ text: "once", seq: 1 });
    // What shard 0 calls on shard 1 to deliver it, sent again: nothing new.
    const [message] = logs[0];
    const [need, members1] = await shardStub(room, 1).deliver(
      a.welcome.epoch ?? "",
      0,
      [1],
      [JSON.stringify(message)],
    );
    // It needs nothing (-1), and tells its count.
    expect([need, members1]).toEqual([-1, 1]);
    expect(await framesOf(d, "message", 0)).toEqual([]);
  });

  it("resumes a member of another shard with exactly what it missed", async () => {
    const room = freshRoom();
    const members = await fill(room, 6);
    const gone = members[5];
    expect(shardOf(gone.id)).toBe(1);
    members[0].send({ type: "say", text: "before" });
    await everyonesMessages(members, 1);
    gone.client.close(1000, "bye");
    await expect.poll(async () => (await stats(room)).connections, { timeout: 5_000 }).toBe(5);
    members[4].send({ type: "say", text: "missed 1" });
    members[1].send({ type: "say", text: "missed 2" });
    await everyonesMessages(members.slice(0, 5), 2);
    const back = await joinAt(
      `/rooms/${room}/websocket?name=back&since=1&epoch=${gone.welcome.epoch}`,
    );
    expect(shardOf(back.id)).toBe(1);
    expect(back.history).toMatchObject({ recovered: true });
    // Exactly the two said meanwhile, in the room's order (the two sayers
    // were on different shards, so either may have come first).
    const missed = back.history?.messages ?? [];
    expect(missed.map((m) => m.seq)).toEqual([2, 3]);
    expect(missed.map((m) => m.text).sort()).toEqual(["missed 1", "missed 2"]);
    const seen = await framesOf(members[0], "message", 0);
    expect(seen).toEqual([]);
  });
});
