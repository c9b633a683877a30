import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
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
