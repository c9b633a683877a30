// Presence in a large room: PRESENCE_LIMIT is 2 in this project
// (test/configured/vars.ts), so a room of 3 is above it. Welcomes and roster
// pages list at most 2, joins and renames are not pushed, `who` pages with
// `next`, and all of it holds across an eviction.
import { describe, expect, it } from "vitest";
import { type Presence, RoomClient } from "../../js/client";
import { withTimeout } from "../shared/client";
import { evict, freshRoom, joinAt, type Member } from "../worker/room";
import { workerConnect } from "../worker/socket";
import { claims, mint } from "./token";

async function joinAs(room: string, name: string): Promise<Member> {
  return joinAt(`/rooms/${room}/websocket?token=${await mint(claims(name, room))}`);
}

/** A, B and C in a fresh room; A's `joined` for B consumed (C's is never sent). */
async function roomOfThree() {
  const room = freshRoom();
  const a = await joinAs(room, "A");
  const b = await joinAs(room, "B");
  expect(await a.next()).toEqual({ type: "joined", id: b.id, name: "B", count: 2 });
  const c = await joinAs(room, "C");
  return { room, a, b, c };
}

/** The next frame is the pong to a ping: nothing else was sent before it. */
async function nothingPending(member: Member): Promise<void> {
  member.send({ type: "ping" });
  expect(await member.next()).toEqual({ type: "pong" });
}

describe("presence above PRESENCE_LIMIT (2 here)", () => {
  it("welcomes with the count and a list of self and the first other; nobody is told of the join", async () => {
    const { a, b, c } = await roomOfThree();
    expect(c.welcome).toEqual({
      type: "welcome",
      id: c.id,
      room: c.welcome.room,
      count: 3,
      presence_limit: 2,
      connections: [
        { id: a.id, name: "A" },
        { id: c.id, name: "C" },
      ],
      epoch: a.welcome.epoch,
      seq: 0,
    });
    await nothingPending(a);
    await nothingPending(b);
  });

  it("pages who with next, the last page without it; anything but a cursor is unknown_cursor", async () => {
    const { a, b, c } = await roomOfThree();
    c.send({ type: "who" });
    const first = await c.next();
    expect(first).toEqual({
      type: "roster",
      count: 3,
      connections: [
        { id: a.id, name: "A" },
        { id: b.id, name: "B" },
      ],
      next: expect.any(String),
    });
    const next = first.type === "roster" ? first.next : undefined;
    c.send({ type: "who", after: next });
    expect(await c.next()).toEqual({
      type: "roster",
      count: 3,
      connections: [{ id: c.id, name: "C" }],
    });
    for (const after of [b.id, "nobody-here"]) {
      c.send({ type: "who", after });
      expect(await c.next(), after).toMatchObject({ type: "error", code: "unknown_cursor" });
    }
  });

  it("a cursor outlives its member: the next page is asked after an eviction and after the member left", async () => {
    const { room, a, b, c } = await roomOfThree();
    c.send({ type: "who" });
    const first = await c.next();
    const next = first.type === "roster" ? first.next : undefined;
    expect(next).toEqual(expect.any(String));
    b.client.close(1000);
    await b.client.closed();
    // Back at the limit, the leave is announced.
    for (const member of [a, c]) {
      expect(await member.next()).toEqual({ type: "left", id: b.id, name: "B", count: 2 });
    }
    await evict(room);
    c.send({ type: "who", after: next });
    expect(await c.next()).toEqual({
      type: "roster",
      count: 2,
      connections: [{ id: c.id, name: "C" }],
    });
    await nothingPending(a);
  });

  it("keeps count and roster right across an eviction, and announces a leave once back at the limit", async () => {
    const { room, a, b, c } = await roomOfThree();
    await evict(room);
    a.send({ type: "who" });
    expect(await a.next()).toEqual({
      type: "roster",
      count: 3,
      connections: [
        { id: a.id, name: "A" },
        { id: b.id, name: "B" },
      ],
      next: expect.any(String),
    });
    await evict(room);
    b.client.close(1000);
    await b.client.closed();
    for (const member of [a, c]) {
      expect(await member.next()).toEqual({ type: "left", id: b.id, name: "B", count: 2 });
    }
    await evict(room);
    c.send({ type: "who" });
    expect(await c.next()).toEqual({
      type: "roster",
      count: 2,
      connections: [
        { id: a.id, name: "A" },
        { id: c.id, name: "C" },
      ],
    });
  });

  it("RoomClient: presence is incomplete above the limit until loadPresence pages through who, also after an eviction", async () => {
    const room = freshRoom();
    const a = await joinAs(room, "A");
    const b = await joinAs(room, "B");
    const { connect } = workerConnect();
    const url = `ws://example.com/rooms/${room}/websocket?token=${await mint(claims("D", room))}`;
    const client = new RoomClient({ url, connect });
    const seen: Presence[] = [];
    client.on("presence", (p) => seen.push(p));
    const presence = (count: number) =>
      withTimeout(
        new Promise<Presence>((resolve) => {
          const stop = client.on("presence", (p) => {
            if (p.count === count) {
              stop();
              resolve(p);
            }
          });
        }),
        5_000,
        `presence with count ${count}`,
      );
    const welcomed = await presence(3);
    const d = welcomed.self;
    expect(welcomed).toEqual({
      self: { id: d.id, name: "D" },
      count: 3,
      peers: [
        { id: a.id, name: "A" },
        { id: d.id, name: "D" },
      ],
      complete: false,
      limit: 2,
    });

    await evict(room);
    const loaded = await client.loadPresence();
    expect(loaded).toEqual({
      ...welcomed,
      peers: [
        { id: a.id, name: "A" },
        { id: b.id, name: "B" },
        { id: d.id, name: "D" },
      ],
      complete: true,
    });
    expect(client.presence).toEqual(loaded);

    await evict(room);
    const left = presence(2);
    b.client.close(1000);
    expect(await left).toEqual({
      ...loaded,
      count: 2,
      peers: [
        { id: a.id, name: "A" },
        { id: d.id, name: "D" },
      ],
    });
    expect(seen.map((p) => [p.count, p.complete])).toEqual([
      [3, false],
      [3, true],
      [2, true],
    ]);
    client.close();
  });
});
