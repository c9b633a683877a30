// The idle sweep with IDLE_TIMEOUT_SECONDS = 60 (test/configured/vars.ts):
// the alarm follows the configured timeout, and the close says it.
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { age, alarmOf, freshRoom, joinAt, type Member, roomStub } from "../worker/room";
import { claims, mint } from "./token";

async function joinAs(room: string, name: string): Promise<Member> {
  return joinAt(`/rooms/${room}/websocket?token=${await mint(claims(name, room))}`);
}

describe("idle members with IDLE_TIMEOUT_SECONDS = 60", () => {
  it("arms the alarm 60 s after the first join and closes a member silent for longer, naming the timeout", async () => {
    const room = freshRoom();
    const before = Date.now();
    const a = await joinAs(room, "A");
    const b = await joinAs(room, "B");
    expect(await a.next()).toEqual({ type: "joined", id: b.id, name: "B", count: 2 });
    const armed = await alarmOf(room);
    expect(armed).toBeGreaterThan(before + 60_000);
    expect(armed).toBeLessThanOrEqual(Date.now() + 60_001);

    // Past the timeout and the eighth of it that a stored frame (or the join) stands for.
    await age(room, [a, b], 60_000 + 7_500 + 1_000);
    a.client.send("ping");
    expect(await a.client.next()).toBe("pong");
    expect(await runDurableObjectAlarm(roomStub(room))).toBe(true);
    expect(await b.client.closed()).toMatchObject({
      code: 1001,
      reason: "idle: no frame and no ping for 60 s; reconnect",
    });
    expect(await a.next()).toEqual({ type: "left", id: b.id, name: "B", count: 1 });
    // A pinged: the next run is 60 s after that ping.
    expect(await alarmOf(room)).toBeLessThanOrEqual(Date.now() + 60_001);
  });
});
