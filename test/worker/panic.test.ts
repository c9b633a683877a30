// A real Rust panic (a test-only hook, compiled in by `npm test` and absent
// from the deployed build: `npm run bundle` checks) traps the Wasm instance.
// The shim must replace the instance, answer the failing frame with
// `internal`, and serve the next frame; no other socket notices.
import { describe, expect, it } from "vitest";
import { freshRoom, joinAll, type Member } from "./room";
import { connectObject, freshName } from "./socket";

/** Sends the panic frame and expects `internal`; a build without the hook answers `bad_json`. */
async function panicOnce(member: Member): Promise<void> {
  member.client.send("__test_panic__");
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
    const seed = await connectObject(freshName());

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
    bob.send({ type: "who" });
    expect(await bob.next()).toEqual({
      type: "roster",
      count: 2,
      connections: [
        { id: ada.id, name: "Ada" },
        { id: bob.id, name: "Bob" },
      ],
    });
    // Another object in the same isolate, whose memory was in the same instance.
    seed.send("hi");
    expect(await seed.next()).toBe("[Durable Object] message: hi, connections: 1");
  });

  it("recovers again after a second panic", async () => {
    const [ada] = await joinAll(freshRoom(), ["Ada"]);
    for (let i = 0; i < 2; i++) {
      await panicOnce(ada);
      ada.send({ type: "ping" });
      expect(await ada.next()).toEqual({ type: "pong" });
    }
  });
});
