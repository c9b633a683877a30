import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { evict, freshRoom, join, stats } from "./room";
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

    ada.send({ type: "who" });
    expect(await ada.next()).toEqual({
      type: "roster",
      count: 1,
      connections: [{ id: ada.id, name: "Ada" }],
    });
  });
});
