import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { evict, expectRoster, freshRoom, join, joinAll, stats } from "./room";
import { connectObject, freshName } from "./socket";

describe("hibernation", () => {
  it("keeps both sockets and the count of 2 after eviction", async () => {
    const name = freshName();
    const a = await connectObject(name);
    const b = await connectObject(name);
    a.send("warm");
    expect(await a.next()).toBe("[Durable Object] message: warm, connections: 2");

    await evictDurableObject(env.WEBSOCKET_HIBERNATION_SERVER.getByName(name));

    a.send("after eviction a");
    expect(await a.next()).toBe("[Durable Object] message: after eviction a, connections: 2");
    b.send("after eviction b");
    expect(await b.next()).toBe("[Durable Object] message: after eviction b, connections: 2");
  });
});

describe("room hibernation", () => {
  it("counts wakes in storage and records a wake from hibernation", async () => {
    const room = freshRoom();
    const ada = await join(room, "Ada");
    const before = await stats(room);
    expect(before).toMatchObject({ room, connections: 1, last_wake_at: null });

    await evict(room);
    ada.send({ type: "ping" }); // wakes the object: a JSON frame reaches webSocketMessage
    expect(await ada.next()).toEqual({ type: "pong" });

    const after = await stats(room);
    expect(after.wakes).toBe(before.wakes + 1);
    expect(after.connections).toBe(1);
    expect(after.instance_started_at).toBeGreaterThanOrEqual(before.instance_started_at);
    expect(after.last_wake_at).toBe(after.instance_started_at);
  });

  it("answers the plain-text ping keepalive without waking the object", async () => {
    const room = freshRoom();
    const ada = await join(room, "Ada");
    await evict(room);

    ada.client.send("ping");
    expect(await ada.client.next()).toBe("pong");
    // Evicting again rejects when no instance is running: the keepalive did
    // not re-create the object, so its handlers did not run.
    await expect(evict(room)).rejects.toThrow();

    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  // The wake record is written after the event that created the instance has
  // been answered (not in the constructor, where the write delayed the first
  // reply after a wake), without holding later frames for its confirmation.
  it("stores the wake record after the first reply of a wake", async () => {
    const room = freshRoom();
    const ada = await join(room, "Ada");
    await evict(room);

    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
    const after = await stats(room);
    expect(after.last_wake_at).toBe(after.instance_started_at);
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    await vi.waitFor(async () => {
      const stored = await runInDurableObject(stub, (_, state) => state.storage.kv.get("wakes"));
      expect(stored).toEqual({ count: after.wakes, last_wake_at: after.last_wake_at });
    });
  });

  it("counts every instance across consecutive wakes, the next one reading what the last stored", async () => {
    const room = freshRoom();
    const ada = await join(room, "Ada");
    const before = await stats(room);
    for (let i = 0; i < 3; i++) {
      await evict(room);
      ada.send({ type: "ping" });
      expect(await ada.next()).toEqual({ type: "pong" });
    }
    const after = await stats(room);
    expect(after.wakes).toBe(before.wakes + 3);
    expect(after.last_wake_at).toBe(after.instance_started_at);

    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  it("counts only instances that held a socket: stats requests alone store nothing", async () => {
    const room = freshRoom();
    const ada = await join(room, "Ada");
    ada.client.close(1000);
    await ada.client.closed();
    const first = await stats(room);
    expect(first).toMatchObject({ connections: 0, wakes: 1 });
    for (let i = 0; i < 2; i++) {
      await evict(room);
      expect(await stats(room)).toMatchObject({ connections: 0, wakes: 1, last_wake_at: null });
    }
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    const stored = await runInDurableObject(stub, (_, state) => state.storage.kv.get("wakes"));
    expect(stored).toEqual({ count: 1, last_wake_at: undefined });
  });
});

describe("a socket the room cannot read", () => {
  it("is closed with 1011 when the object wakes: no echoes, no broadcasts", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    // Damage Bob's attachment (a sound object never has one like it); its
    // tags still say it is a room socket.
    await runInDurableObject(stub, (_instance, state) => {
      for (const ws of state.getWebSockets(bob.id)) ws.serializeAttachment({ not: "a member" });
    });
    await evict(room);

    ada.send({ type: "say", text: "anyone?" });
    expect(await ada.next()).toMatchObject({ type: "message", id: ada.id, text: "anyone?" });
    const closed = await bob.client.closed();
    expect(closed).toMatchObject({
      code: 1011,
      reason: "connection unknown to the room; reconnect",
    });
    // Bob heard nothing: not the say, not an echo of the `/websocket` kind.
    await expect(bob.next(200)).rejects.toThrow();
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });
});
