// Against `wrangler dev`: a crowded room where a quarter of the connections
// vanish without a Close frame in the middle of a broadcast burst. The rest
// must get every message, a `left` for each vanished one, and an exact roster.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";
import { connect, rawConnect } from "./net";

const PORT = 8831;
const STAYING = 150;
const DROPPING = 50;
const SENDERS = 20;
const SAYS_EACH = 5;

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: PORT, inspectorPort: 9331 });
});

afterAll(async () => {
  await server?.stop();
});

interface Stayer {
  ws: WebSocket;
  id: string;
  frames: ServerFrame[];
}

async function stayer(room: string, name: string): Promise<Stayer> {
  const client = await connect(`${server.ws}/rooms/${room}/websocket?name=${name}`);
  const frames: ServerFrame[] = [];
  const welcome = JSON.parse(await client.next()) as ServerFrame;
  if (welcome.type !== "welcome") throw new Error(`expected welcome: ${JSON.stringify(welcome)}`);
  client.ws.addEventListener("message", (event) => {
    if (typeof event.data === "string") frames.push(JSON.parse(event.data) as ServerFrame);
  });
  return { ws: client.ws, id: welcome.id, frames };
}

async function until(what: string, done: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("faults", () => {
  it(`keeps ${STAYING} clients whole while ${DROPPING} drop mid-burst`, async () => {
    const room = `crowd-${crypto.randomUUID()}`;
    const stayers: Stayer[] = [];
    for (let i = 0; i < STAYING; i++) stayers.push(await stayer(room, `stay-${i}`));
    const dropping = [];
    for (let i = 0; i < DROPPING; i++) {
      dropping.push(await rawConnect(PORT, `/rooms/${room}/websocket?name=drop-${i}`));
    }
    const joinedNames = (s: Stayer) =>
      s.frames.filter((f) => f.type === "joined" && f.name.startsWith("drop-")).length;
    await until("every drop-* joined", () => stayers.every((s) => joinedNames(s) === DROPPING));

    const texts: string[] = [];
    for (let round = 0; round < SAYS_EACH; round++) {
      for (let i = 0; i < SENDERS; i++) {
        const text = `burst ${round}/${i}`;
        texts.push(text);
        stayers[i].ws.send(JSON.stringify({ type: "say", text }));
      }
      if (round === Math.floor(SAYS_EACH / 2)) for (const socket of dropping) socket.destroy();
    }

    const messages = (s: Stayer) => s.frames.filter((f) => f.type === "message").length;
    const lefts = (s: Stayer) => s.frames.filter((f) => f.type === "left");
    await until("every message and every left", () =>
      stayers.every((s) => messages(s) === texts.length && lefts(s).length === DROPPING),
    );
    for (const s of stayers) {
      const got = s.frames.flatMap((f) => (f.type === "message" ? [f.text] : []));
      expect(got.sort()).toEqual([...texts].sort());
      expect(new Set(lefts(s).map((f) => (f.type === "left" ? f.name : "")))).toEqual(
        new Set(Array.from({ length: DROPPING }, (_, i) => `drop-${i}`)),
      );
    }

    const asker = stayers[0];
    const before = asker.frames.length;
    asker.ws.send(JSON.stringify({ type: "who" }));
    await until("the roster", () => asker.frames.length > before);
    const roster = asker.frames[before];
    expect(roster.type).toBe("roster");
    if (roster.type === "roster") {
      expect(roster.connections.map((p) => p.id)).toEqual(stayers.map((s) => s.id));
    }
    expect(uncaughtErrors(server.output())).toEqual([]);
    for (const s of stayers) s.ws.close(1000);
  }, 120_000);
});
