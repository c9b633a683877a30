// Typing indicators: `{"type":"typing"}` from a member reaches the others as
// `{"type":"typing","id","name"}`, at most once per member per 2 s (coalesced
// by the server, also across an eviction), is never answered, stored or
// replayed. (Above PRESENCE_LIMIT: test/configured/typing.test.ts.)
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { evict, freshRoom, join, joinAll, type Member } from "./room";

/** The server's window: one `typing` relayed per member per this many ms (rust/src/room/typing.rs). */
const WINDOW_MS = 2_000;

/**
 * `typer` says `${fence} <`, sends `typing`, says `${fence} >`. Frames of one
 * socket are served in order, so whatever the `typing` made `watcher` receive
 * lies between the two messages, whose `ts` (the server's clock) bound the
 * time the server served the `typing`: `before` ≤ that time ≤ `after`.
 */
async function typeBetweenFences(typer: Member, watcher: Member, fence: string) {
  typer.send({ type: "say", text: `${fence} <` });
  typer.send({ type: "typing" });
  typer.send({ type: "say", text: `${fence} >` });
  const seen: ServerFrame[] = [];
  for (;;) {
    const frame = await watcher.next();
    seen.push(frame);
    if (frame.type === "message" && frame.text === `${fence} >`) break;
  }
  // The typer hears its own two messages and nothing else: no typing, no answer.
  const own = [await typer.next(), await typer.next()];
  expect(own.map((f) => f.type === "message" && f.text)).toEqual([`${fence} <`, `${fence} >`]);
  const ts = (frame: ServerFrame | undefined) => (frame?.type === "message" ? frame.ts : NaN);
  expect(seen[0]).toMatchObject({ type: "message", text: `${fence} <` });
  return {
    typings: seen.filter((frame) => frame.type === "typing"),
    before: ts(seen[0]),
    after: ts(seen[seen.length - 1]),
  };
}

describe("typing", () => {
  it("is relayed to the others with the typer's id and name, never to the typer, and never replayed", async () => {
    const room = freshRoom();
    const [ada, bob, cy] = await joinAll(room, ["Ada", "Bob", "Cy"]);
    ada.send({ type: "typing" });
    for (const other of [bob, cy]) {
      expect(await other.next()).toEqual({ type: "typing", id: ada.id, name: "Ada" });
    }
    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
    // A newcomer is welcomed and told nothing of it.
    const dan = await join(room, "Dan");
    dan.send({ type: "ping" });
    expect(await dan.next()).toEqual({ type: "pong" });
  });

  it("B50 more than one typing per 2 s: no error, the others get one; the window survives an eviction", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const first = await typeBetweenFences(ada, bob, "fence 0");
    expect(first.typings).toEqual([{ type: "typing", id: ada.id, name: "Ada" }]);

    const warm = await typeBetweenFences(ada, bob, "fence 1");
    await evict(room);
    const woken = await typeBetweenFences(ada, bob, "fence 2");
    // Both served within the window of the first relay: coalesced, by the new instance too.
    expect(woken.after - first.before, "too slow to prove coalescing").toBeLessThan(WINDOW_MS);
    expect([warm.typings, woken.typings]).toEqual([[], []]);

    // Bob's window is his own.
    const bobs = await typeBetweenFences(bob, ada, "fence 3");
    expect(bobs.typings).toEqual([{ type: "typing", id: bob.id, name: "Bob" }]);
  });

  it("is relayed again once 2 s have passed since the last relay", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const first = await typeBetweenFences(ada, bob, "first");
    expect(first.typings).toHaveLength(1);
    // Ada keeps typing, every 250 ms, until Bob hears of it again (within 5 s).
    const deadline = Date.now() + 5_000;
    for (let round = 1; ; round++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const next = await typeBetweenFences(ada, bob, `round ${round}`);
      if (next.typings.length === 0) {
        // Coalesced: served less than a window after the first relay.
        expect(next.before - first.after).toBeLessThan(WINDOW_MS);
        expect(Date.now(), "no second typing within 5 s").toBeLessThan(deadline);
        continue;
      }
      expect(next.typings).toEqual([{ type: "typing", id: ada.id, name: "Ada" }]);
      // Relayed: served at least a window after the first relay.
      expect(next.after - first.before).toBeGreaterThanOrEqual(WINDOW_MS);
      break;
    }
  });
});
