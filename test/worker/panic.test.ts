// A real Rust panic (a test-only hook, compiled in by `npm test` and absent
// from the deployed build: `npm run bundle` checks) traps the Wasm instance.
// The shim must replace the instance, answer the failing frame with
// `internal`, and serve the next frame; no other socket notices.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { expectRoster, freshRoom, joinAll, type Member } from "./room";
import { connectObject, freshName } from "./socket";

/** The test-only frames of the `test-hooks` build (rust/src/room/mod.rs). */
const PANIC = "__test_panic__";
const STACK_OVERFLOW = "__test_stack_overflow__";

/** Sends a trapping frame and expects `internal`; a build without the hooks answers `bad_json`. */
async function panicOnce(member: Member, hook = PANIC): Promise<void> {
  member.client.send(hook);
  const frame = await member.next();
  if (frame.type === "error" && frame.code === "bad_json") {
    throw new Error(
      "pkg/ was built without the test hooks: run `npm test` (or `npm run build -- --test-hooks`)",
    );
  }
  expect(frame).toMatchObject({ type: "error", code: "internal" });
}

describe("panic safety", () => {
  it("B21 a panic in the core: the frame gets internal, the next frame is served", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const echo = await connectObject(freshName());

    await panicOnce(ada);

    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
    bob.send({ type: "say", text: "still here" });
    for (const member of [ada, bob]) {
      expect(await member.next()).toMatchObject({
        type: "message",
        id: bob.id,
        text: "still here",
      });
    }
    await expectRoster(bob, [
      { id: ada.id, name: "Ada" },
      { id: bob.id, name: "Bob" },
    ]);
    // Another object in the same isolate, whose memory was in the same instance.
    echo.send("hi");
    expect(await echo.next()).toBe("[Durable Object] message: hi, connections: 1");
  });

  it("recovers again after a second panic", async () => {
    const [ada] = await joinAll(freshRoom(), ["Ada"]);
    for (let i = 0; i < 2; i++) {
      await panicOnce(ada);
      ada.send({ type: "ping" });
      expect(await ada.next()).toEqual({ type: "pong" });
    }
  });

  it("B21 a stack overflow in the core is recovered like a panic", async () => {
    const [ada, bob] = await joinAll(freshRoom(), ["Ada", "Bob"]);
    await panicOnce(ada, STACK_OVERFLOW);
    bob.send({ type: "say", text: "after the overflow" });
    for (const member of [ada, bob]) {
      expect(await member.next()).toMatchObject({ type: "message", text: "after the overflow" });
    }
  });

  it("rebuilds every object of the isolate, and an old wrapper can no longer reach Wasm", async () => {
    const roomA = freshRoom();
    const roomB = freshRoom();
    const [ada] = await joinAll(roomA, ["Ada"]);
    const [bea, cy] = await joinAll(roomB, ["Bea", "Cy"]);
    const stubB = env.WEBSOCKET_HIBERNATION_SERVER.getByName(roomB);
    // Room B's state object, made in the instance that is about to trap.
    const before = await runInDurableObject(stubB, (instance) => {
      return (instance as unknown as { current: object }).current;
    });

    await panicOnce(ada);

    // Room B never saw the trap: its next frame is served by a state rebuilt
    // from its sockets in the new instance.
    cy.send({ type: "say", text: "still here" });
    for (const member of [bea, cy]) {
      expect(await member.next()).toMatchObject({ type: "message", id: cy.id, text: "still here" });
    }
    bea.send({ type: "who" });
    expect(await bea.next()).toMatchObject({ type: "roster", count: 2 });
    await runInDurableObject(stubB, (instance) => {
      const after = (instance as unknown as { current: object }).current;
      expect(after).not.toBe(before);
      // The glue refuses any call on a wrapper of the old instance before it
      // reaches Wasm (and its finalizer frees nothing), so it cannot touch
      // the new instance's memory.
      const stale = before as { configError(): unknown };
      expect(() => stale.configError()).toThrow(/stale object from previous Wasm instance/);
    });
  });
});
