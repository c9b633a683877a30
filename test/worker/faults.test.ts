// An eviction in the middle of traffic: no socket, no attachment and no
// frame may be lost.
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { evict, freshRoom, joinAll, stats } from "./room";

describe("eviction under traffic", () => {
  it("loses no socket, attachment or message when the object is evicted mid-burst", async () => {
    const room = freshRoom();
    const names = ["Ada", "Bob", "Cy", "Dee", "Eve"];
    const members = await joinAll(room, names);
    members[0].send({ type: "hello", name: "Grace" });
    for (const member of members) expect((await member.next()).type).toBe("renamed");

    const before = await stats(room);
    const texts: string[] = [];
    const eviction = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await evict(room);
    })();
    for (let round = 0; round < 20; round++) {
      for (const [i, member] of members.entries()) {
        const text = `m${round}-${i}`;
        texts.push(text);
        member.send({ type: "say", text });
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await eviction;

    for (const member of members) {
      const got: string[] = [];
      while (got.length < texts.length) {
        const frame: ServerFrame = await member.next();
        if (frame.type !== "message") throw new Error(`unexpected ${JSON.stringify(frame)}`);
        got.push(frame.text);
      }
      expect(got.sort()).toEqual([...texts].sort());
    }
    expect((await stats(room)).wakes).toBeGreaterThan(before.wakes);
    members[4].send({ type: "who" });
    expect(await members[4].next()).toEqual({
      type: "roster",
      count: names.length,
      connections: members.map((m, i) => ({ id: m.id, name: i === 0 ? "Grace" : names[i] })),
    });
  });
});
