// `/websocket`, Cloudflare's hibernation example kept exactly: replies, counts, close handshake.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { WebSocketHibernationServer } from "../../js/index";
import { type Client, connectObject, connectWorker, freshName } from "./socket";

const reply = (message: string, connections: number) =>
  `[Durable Object] message: ${message}, connections: ${connections}`;

async function clients(count: number, name = freshName()): Promise<Client[]> {
  const list: Client[] = [];
  for (let i = 0; i < count; i++) list.push(await connectObject(name));
  return list;
}

describe("/websocket (the example's echo)", () => {
  it("answers through the Worker on the object named foo", async () => {
    const client = await connectWorker("/websocket");
    client.send("hello");
    expect(await client.next()).toMatch(/^\[Durable Object\] message: hello, connections: \d+$/);
    client.close(1000, "bye");
    await client.closed();
  });

  for (const count of [1, 2, 3]) {
    it(`replies with the text and the count with ${count} client(s)`, async () => {
      const list = await clients(count);
      for (const [i, client] of list.entries()) {
        client.send(`from ${i}`);
        expect(await client.next()).toBe(reply(`from ${i}`, count));
      }
    });
  }

  it("counts one less after a client closes", async () => {
    const [a, b] = await clients(2);
    a.send("before");
    expect(await a.next()).toBe(reply("before", 2));
    b.close(1000, "leaving");
    await b.closed();
    a.send("after");
    expect(await a.next()).toBe(reply("after", 1));
  });

  it("completes the close with the client's code and the example's reason", async () => {
    const [client] = await clients(1);
    client.close(4001, "my reason");
    const event = await client.closed();
    expect(event.code).toBe(4001);
    expect(event.reason).toBe("Durable Object is closing WebSocket");
  });

  it("answers a close without a code with 1000 instead of throwing", async () => {
    const [a, b] = await clients(2);
    b.close();
    const event = await b.closed();
    expect(event.code).toBe(1000);
    expect(event.reason).toBe("Durable Object is closing WebSocket");
    a.send("still here");
    expect(await a.next()).toBe(reply("still here", 1));
  });

  it("keeps unicode intact", async () => {
    const [client] = await clients(1);
    const text = "héllo wörld 👋 你好 \u0000 end";
    client.send(text);
    expect(await client.next()).toBe(reply(text, 1));
  });

  it("closes with 1003 on a binary frame, and the others are unaffected", async () => {
    const [a, b] = await clients(2);
    a.send(new Uint8Array([1, 2, 3]).buffer);
    const event = await a.closed();
    expect(event.code).toBe(1003);
    expect(event.reason).toBe("binary frames are not supported on /websocket");
    b.send("ok");
    expect(await b.next()).toBe(reply("ok", 1));
  });

  it("counts its sockets itself, exactly: an error then a close counts once, across an eviction", async () => {
    const name = freshName();
    const [a, b, c] = await clients(3, name);
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(name);
    // The runtime reports an error on b's socket (as a broken connection
    // would); its close follows, after an eviction.
    await runInDurableObject(stub, (instance: WebSocketHibernationServer, state) => {
      const sockets = state.getWebSockets();
      instance.webSocketError(sockets[1], new Error("test"));
    });
    a.send("after the error");
    expect(await a.next()).toBe(reply("after the error", 2));
    await evictDurableObject(stub);
    b.close(1000);
    await b.closed();
    c.send("after the close");
    expect(await c.next()).toBe(reply("after the close", 2));
  });
});
