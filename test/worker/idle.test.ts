// The idle sweep with the default IDLE_TIMEOUT_SECONDS (120 s): the alarm
// closes exactly the members that sent nothing for longer, one `left` each,
// and is re-armed only while members remain. Waiting two minutes is no test:
// a member's silence is made by moving the times its socket stores back
// (the room is rebuilt from them after an eviction, as after any wake). The
// runtime's own time of its last `pong` cannot be moved: a member that pings
// has just pinged.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  age,
  alarmOf,
  evict,
  expectRoster,
  freshRoom,
  join,
  joinAll,
  type Member,
  stats,
  roomStub as stub,
} from "./room";
import { connectObject } from "./socket";

const TIMEOUT_MS = 120_000;
/**
 * Silent for long enough: the timeout, plus the eighth of it that a stored
 * frame (or the join) stands for.
 */
const SILENT_MS = TIMEOUT_MS + TIMEOUT_MS / 8 + 1_000;

/** Expects `member`'s next frame to be `left` for `gone`, with `count` members left. */
async function expectLeft(member: Member, gone: Member, count: number): Promise<void> {
  expect(await member.next()).toEqual({ type: "left", id: gone.id, name: gone.name, count });
}

/**
 * Expects `member`'s next frames to be one `left` for each of `gone`, in any
 * order (the runtime lists sockets in an order of its own), the counts
 * going down from `count`.
 */
async function expectLefts(member: Member, gone: Member[], count: number): Promise<void> {
  const frames = [];
  for (const _ of gone) frames.push(await member.next());
  expect(frames.map((f) => (f.type === "left" ? f.count : f.type))).toEqual(
    gone.map((_, i) => count - i),
  );
  const ids = frames.map((f) => (f.type === "left" ? `${f.id} ${f.name}` : ""));
  expect(ids.sort()).toEqual(gone.map((g) => `${g.id} ${g.name}`).sort());
}

describe("idle members", () => {
  it("the first join arms the alarm, the idle timeout after it; later joins do not move it", async () => {
    const room = freshRoom();
    const before = Date.now();
    await join(room, "Ada");
    const armed = await alarmOf(room);
    expect(armed).toBeGreaterThan(before + TIMEOUT_MS);
    expect(armed).toBeLessThanOrEqual(Date.now() + TIMEOUT_MS + 1);
    await join(room, "Bob");
    expect(await alarmOf(room)).toBe(armed);
    expect(await runDurableObjectAlarm(stub(room))).toBe(true);
  });

  it("closes exactly the idle members with 1001 and tells the others once each, across evictions", async () => {
    const room = freshRoom();
    const [ada, bob, cy, dee] = await joinAll(room, ["Ada", "Bob", "Cy", "Dee"]);
    await age(room, [ada, bob, cy, dee], SILENT_MS);
    // Ada keeps alive with the runtime's keepalive, which wakes nothing;
    // Cy with a frame; Bob and Dee say nothing.
    const pingedAt = Date.now();
    ada.client.send("ping");
    expect(await ada.client.next()).toBe("pong");
    cy.send({ type: "ping" });
    expect(await cy.next()).toEqual({ type: "pong" });
    await evict(room);

    expect(await runDurableObjectAlarm(stub(room))).toBe(true);
    for (const gone of [bob, dee]) {
      expect(await gone.client.closed()).toMatchObject({
        code: 1001,
        reason: "idle: no frame and no ping for 120 s; reconnect",
      });
    }
    for (const kept of [ada, cy]) await expectLefts(kept, [bob, dee], 3);
    // Once each: the next frame each hears is the roster it asks for.
    await expectRoster(ada, [
      { id: ada.id, name: "Ada" },
      { id: cy.id, name: "Cy" },
    ]);
    await expectRoster(cy, [
      { id: ada.id, name: "Ada" },
      { id: cy.id, name: "Cy" },
    ]);
    expect((await stats(room)).connections).toBe(2);
    // Re-armed just after the earliest deadline: the timeout after Ada's ping.
    const next = await alarmOf(room);
    expect(next).toBeGreaterThan(pingedAt + TIMEOUT_MS);
    expect(next).toBeLessThanOrEqual(Date.now() + TIMEOUT_MS + 1);

    // The next run, after an eviction, finds both alive: nobody goes.
    await evict(room);
    expect(await runDurableObjectAlarm(stub(room))).toBe(true);
    expect(await alarmOf(room)).toBeGreaterThan(pingedAt + TIMEOUT_MS);
    await expectRoster(ada, [
      { id: ada.id, name: "Ada" },
      { id: cy.id, name: "Cy" },
    ]);
  });

  it("is not re-armed once the room is empty, and the next join arms it again", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    ada.client.close(1000);
    await expectLeft(bob, ada, 1);
    await age(room, [bob], SILENT_MS);
    expect(await runDurableObjectAlarm(stub(room))).toBe(true);
    expect((await bob.client.closed()).code).toBe(1001);
    expect(await alarmOf(room)).toBeNull();
    expect(await runDurableObjectAlarm(stub(room))).toBe(false);

    await join(room, "Cy");
    expect(await alarmOf(room)).toBeGreaterThan(Date.now());
    expect(await runDurableObjectAlarm(stub(room))).toBe(true);
  });

  it("an object that starts with members and finds no alarm sweeps at once", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    // The alarm is gone (as after a deploy that turned reaping on, or a run
    // that failed); Bob has been silent for long.
    await runInDurableObject(stub(room), (_, state) => state.storage.deleteAlarm());
    await age(room, [bob], SILENT_MS);
    ada.send({ type: "ping" }); // wakes the object
    const heard = [await ada.next(), await ada.next()];
    expect(heard).toContainEqual({ type: "pong" });
    expect(heard).toContainEqual({ type: "left", id: bob.id, name: "Bob", count: 1 });
    expect((await bob.client.closed()).code).toBe(1001);
    expect(await alarmOf(room)).toBeGreaterThan(Date.now());
    expect(await runDurableObjectAlarm(stub(room))).toBe(true);
  });

  it("never closes /websocket sockets, and sets no alarm for them", async () => {
    const name = freshRoom();
    const echo = await connectObject(name);
    echo.send("hi");
    expect(await echo.next()).toBe("[Durable Object] message: hi, connections: 1");
    expect(await alarmOf(name)).toBeNull();
  });
});
