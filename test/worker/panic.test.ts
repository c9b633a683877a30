// A real Rust panic (a test-only hook, compiled in by `npm test` and absent
// from the deployed build: `npm run bundle` checks) traps the Wasm instance.
// The shim must replace the instance, answer the failing frame with
// `internal`, and serve the next frame; no other socket notices.
import { describe, expect, it } from "vitest";
import { freshRoom, joinAll } from "./room";
import { connectObject, freshName } from "./socket";

describe("panic safety", () => {
  it("answers the panicking frame with internal and serves the next one", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const seed = await connectObject(freshName());

    ada.client.send("__test_panic__");
    expect(await ada.next()).toMatchObject({ type: "error", code: "internal" });

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
      ada.client.send("__test_panic__");
      expect(await ada.next()).toMatchObject({ type: "error", code: "internal" });
      ada.send({ type: "ping" });
      expect(await ada.next()).toEqual({ type: "pong" });
    }
  });
});
