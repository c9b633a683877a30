// Against `wrangler dev` with IDLE_TIMEOUT_SECONDS = 15: a client that
// vanishes without a Close is closed by the alarm and the others hear it
// left; one that only sends the text `ping` stays; and between the alarm's
// runs the room is evicted, the pings waking nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame, Stats } from "../../pkg/core.js";
import type { Client } from "../shared/client";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";
import { connect, rawHandshake } from "./net";

const PORT = 8836;
const TIMEOUT_MS = 15_000;
/** How often the pinging client pings. */
const PING_MS = 2_000;
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({
    port: PORT,
    inspectorPort: 9336,
    vars: { IDLE_TIMEOUT_SECONDS: String(TIMEOUT_MS / 1000) },
  });
});

afterAll(async () => {
  await server?.stop();
});

async function stats(room: string): Promise<Stats> {
  return (await fetch(`${server.http}/rooms/${room}`)).json() as Promise<Stats>;
}

/** The next JSON frame, past the runtime's `pong`s to the keepalive. */
async function nextFrame(client: Client, ms = 5_000): Promise<ServerFrame> {
  const until = Date.now() + ms;
  for (;;) {
    const text = await client.next(Math.max(1, until - Date.now()));
    if (text !== "pong") return JSON.parse(text) as ServerFrame;
  }
}

const sleepUntil = (at: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

describe("idle sockets under wrangler dev (IDLE_TIMEOUT_SECONDS = 15)", () => {
  it("B45 a client gone silent without a Close is closed 1001 within 2× the timeout, the others get left; a client that only pings stays past 3×, and only the alarm wakes the room", async () => {
    const room = `reap-${crypto.randomUUID()}`;
    const ada = await connect(`${server.ws}/rooms/${room}/websocket?name=Ada`);
    expect(await nextFrame(ada)).toMatchObject({ type: "welcome", count: 1 });
    expect(await nextFrame(ada)).toMatchObject({ type: "history", messages: [] });
    const started = Date.now();
    // Ada only ever sends the keepalive, which the runtime answers.
    const pinger = setInterval(() => ada.send("ping"), PING_MS);
    // A /websocket client that says nothing: the example's endpoint is never reaped.
    const echo = await connect(`${server.ws}/websocket`);
    try {
      // The ghost completes the handshake, then goes silent with its TCP
      // connection open: no frame, no ping, no Close.
      const ghost = await rawHandshake(PORT, `/rooms/${room}/websocket?name=Ghost`);
      const joinedAt = Date.now();
      expect(ghost.status).toMatch(/^HTTP\/1.1 101/);
      const welcome = JSON.parse(String((await ghost.next()).payload)) as ServerFrame;
      if (welcome.type !== "welcome") throw new Error(`expected welcome: ${welcome.type}`);
      const history = JSON.parse(String((await ghost.next()).payload)) as ServerFrame;
      expect(history).toMatchObject({ type: "history", messages: [] });
      expect(await nextFrame(ada)).toMatchObject({ type: "joined", name: "Ghost", count: 2 });

      const close = await ghost.next(2 * TIMEOUT_MS - (Date.now() - joinedAt));
      const reapedAfter = Date.now() - joinedAt;
      expect(close.opcode).toBe(8);
      expect(close.payload.readUInt16BE(0)).toBe(1001);
      expect(String(close.payload.subarray(2))).toBe(
        "idle: no frame and no ping for 15 s; reconnect",
      );
      expect(reapedAfter).toBeGreaterThan(TIMEOUT_MS);
      expect(reapedAfter).toBeLessThan(2 * TIMEOUT_MS);
      expect(await nextFrame(ada)).toEqual({
        type: "left",
        id: welcome.id,
        name: "Ghost",
        count: 1,
      });
      ghost.socket.destroy();

      // From now on only Ada's pings reach the room: the runtime answers
      // them without the object, whose alarm runs every 13–15 s (the
      // timeout after her last ping), long enough for wrangler dev to
      // evict it in between (after 10 s). Each run is a wake; nothing else
      // is. The bounds allow one run less (a loaded machine delays alarms)
      // and one wake more (the last request for stats).
      const before = await stats(room);
      const from = Date.now();
      await sleepUntil(started + 4 * TIMEOUT_MS);
      const after = await stats(room);
      const window = Date.now() - from;
      const runs = {
        least: Math.floor(window / TIMEOUT_MS),
        most: Math.ceil(window / (TIMEOUT_MS - PING_MS)),
      };
      const wakes = after.wakes - before.wakes;
      const figures = JSON.stringify({ reapedAfter, window, runs, wakes });
      expect(wakes, figures).toBeGreaterThanOrEqual(Math.max(1, runs.least - 1));
      expect(wakes, figures).toBeLessThanOrEqual(runs.most + 1);
      expect(after.connections).toBe(1);

      // Ada, past 3× the timeout with pings only, is still in the room.
      expect(Date.now() - started).toBeGreaterThan(3 * TIMEOUT_MS);
      ada.send(JSON.stringify({ type: "who" }));
      expect(await nextFrame(ada)).toEqual({
        type: "roster",
        count: 1,
        connections: [{ id: expect.any(String), name: "Ada" }],
      });
      echo.send("still here");
      expect(await echo.next()).toMatch(/^\[Durable Object\] message: still here, connections: /);
    } finally {
      clearInterval(pinger);
      ada.close(1000);
      echo.close(1000);
    }
    expect(uncaughtErrors(server.output())).toEqual([]);
  }, 120_000);
});
