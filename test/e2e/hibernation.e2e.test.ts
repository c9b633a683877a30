// Against `wrangler dev`: hibernation for real (idle past the runtime's
// ~10 s threshold), and connections that vanish without a Close frame.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame, Stats } from "../../pkg/core.js";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";
import { connect, rawConnect } from "./net";

const PORT = 8830;
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: PORT, inspectorPort: 9330 });
});

afterAll(async () => {
  await server?.stop();
});

async function stats(room: string) {
  const response = await fetch(`${server.http}/rooms/${room}`);
  return (await response.json()) as Stats;
}

async function member(room: string, name: string) {
  const client = await connect(`${server.ws}/rooms/${room}/websocket?name=${name}`);
  const welcome = JSON.parse(await client.next()) as ServerFrame;
  if (welcome.type !== "welcome") throw new Error(`expected welcome: ${JSON.stringify(welcome)}`);
  // The room's history follows the welcome (README, History and resume).
  expect(JSON.parse(await client.next())).toMatchObject({ type: "history" });
  return {
    client,
    id: welcome.id,
    next: async () => JSON.parse(await client.next()) as ServerFrame,
  };
}

describe("wrangler dev", () => {
  it("hibernates an idle room and wakes it with every name intact", async () => {
    const room = `idle-${crypto.randomUUID()}`;
    const ada = await member(room, "Ada");
    const bob = await member(room, "Bob");
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Bob" });
    const before = await stats(room);

    // Idle past the hibernation threshold; the text keepalive is answered by
    // the runtime and must not keep the object awake.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    ada.client.send("ping");
    expect(await ada.client.next()).toBe("pong");
    await new Promise((resolve) => setTimeout(resolve, 8_000));

    bob.client.send(JSON.stringify({ type: "who" }));
    expect(await bob.next()).toEqual({
      type: "roster",
      count: 2,
      connections: [
        { id: ada.id, name: "Ada" },
        { id: bob.id, name: "Bob" },
      ],
    });
    const after = await stats(room);
    expect(after.wakes).toBeGreaterThan(before.wakes);
    expect(after.last_wake_at).not.toBeNull();
    expect(after.connections).toBe(2);
    ada.client.close(1000);
    bob.client.close(1000);
  }, 60_000);

  it("takes an abrupt disconnect on /websocket without an uncaught error", async () => {
    const stay = await connect(`${server.ws}/websocket`);
    stay.send("one");
    const first = await stay.next();
    const count = Number(first.match(/connections: (\d+)$/)?.[1]);
    const dropped = await rawConnect(PORT, "/websocket");
    stay.send("two");
    expect(await stay.next()).toBe(`[Durable Object] message: two, connections: ${count + 1}`);

    dropped.destroy();
    // The runtime notices the dead TCP connection and reports 1006.
    let reply = "";
    for (let i = 0; i < 50; i++) {
      stay.send("three");
      reply = await stay.next();
      if (reply.endsWith(`connections: ${count}`)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(reply).toBe(`[Durable Object] message: three, connections: ${count}`);
    expect(uncaughtErrors(server.output())).toEqual([]);
    stay.close(1000);
  });
});
