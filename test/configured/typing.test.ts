// Typing above PRESENCE_LIMIT (2 in this project, test/configured/vars.ts): a
// room of 3 relays no `typing`, like `joined`; back at the limit it does.
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { evict, freshRoom, joinAt, type Member } from "../worker/room";
import { claims, mint } from "./token";

async function joinAs(room: string, name: string): Promise<Member> {
  return joinAt(`/rooms/${room}/websocket?token=${await mint(claims(name, room))}`);
}

/**
 * `typer` sends `typing`, then says `fence`; for each of `everyone` (the typer
 * included), the frames other than messages received up to that fence. A
 * socket's frames are served in order, so a relayed `typing` comes before it.
 */
async function typeThenFence(typer: Member, everyone: Member[], fence: string) {
  typer.send({ type: "typing" });
  typer.send({ type: "say", text: fence });
  const seen: ServerFrame[][] = [];
  for (const member of everyone) {
    const frames: ServerFrame[] = [];
    for (;;) {
      const frame = await member.next();
      if (frame.type === "message" && frame.text === fence) break;
      if (frame.type !== "message") frames.push(frame);
    }
    seen.push(frames);
  }
  return seen;
}

describe("typing above PRESENCE_LIMIT (2 here)", () => {
  it("is not relayed in a room of 3, also after an eviction; back at the limit it is", async () => {
    const room = freshRoom();
    const a = await joinAs(room, "A");
    const b = await joinAs(room, "B");
    expect(await a.next()).toMatchObject({ type: "joined", id: b.id });
    const c = await joinAs(room, "C");

    expect(await typeThenFence(a, [a, b, c], "three of us")).toEqual([[], [], []]);
    await evict(room);
    expect(await typeThenFence(b, [a, b, c], "still three")).toEqual([[], [], []]);

    c.client.close(1000);
    await c.client.closed();
    // The windows never opened above the limit: A's typing is relayed at once.
    const left = { type: "left", id: c.id, name: "C", count: 2 };
    expect(await typeThenFence(a, [a, b], "two of us")).toEqual([
      [left],
      [left, { type: "typing", id: a.id, name: "A" }],
    ]);
  });
});
