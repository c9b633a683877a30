// Against `wrangler dev`, on 127.0.0.1 only and bounded in time: a client
// that floods a room with frames is closed with 1008 while the others keep
// chatting, and a client address that opens sockets in a loop is refused
// with 429 by the Rate Limiting binding while other addresses get in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";
import { connect, rawHandshake } from "./net";

const PORT = 8833;
/** How long the flood may last at most before the test gives up on it. */
const FLOOD_MS = 20_000;

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: PORT, inspectorPort: 9333 });
});

afterAll(async () => {
  await server?.stop();
});

interface Chatter {
  ws: globalThis.WebSocket;
  id: string;
  frames: ServerFrame[];
}

async function chatter(room: string, name: string): Promise<Chatter> {
  const client = await connect(`${server.ws}/rooms/${room}/websocket?name=${name}`);
  const welcome = JSON.parse(await client.next()) as ServerFrame;
  if (welcome.type !== "welcome") throw new Error(`expected welcome: ${JSON.stringify(welcome)}`);
  const frames: ServerFrame[] = [];
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

/**
 * Opens `/websocket` from `address` (the `CF-Connecting-IP` header, which
 * `wrangler dev` keeps when a client sets it) and returns the HTTP status:
 * 101, or the refusal's.
 */
async function upgradeFrom(address: string): Promise<number> {
  const connection = await rawHandshake(PORT, "/websocket", "GET", {
    "CF-Connecting-IP": address,
  });
  connection.socket.destroy();
  return Number(connection.status.split(" ")[1]);
}

describe("floods", () => {
  it("a client flooding a room is closed with 1008 while the others are served", async () => {
    const room = `flood-${crypto.randomUUID()}`;
    const others: Chatter[] = [];
    for (let i = 0; i < 5; i++) others.push(await chatter(room, `calm-${i}`));
    const flooder = await connect(`${server.ws}/rooms/${room}/websocket?name=flooder`);
    await flooder.next(); // welcome
    await until("every joined", () =>
      others.every((c) => c.frames.some((f) => f.type === "joined" && f.name === "flooder")),
    );
    let closed: { code: number; reason: string } | undefined;
    flooder.ws.addEventListener("close", (event) => {
      closed = { code: event.code, reason: event.reason };
    });
    // The others say something 5 times a second (within the rate limit of
    // 20/s) while the flooder sends as fast as the connection takes.
    const said: string[] = [];
    const calm = setInterval(() => {
      for (const [i, c] of others.entries()) {
        const text = `calm ${i} #${said.length}`;
        said.push(text);
        c.ws.send(JSON.stringify({ type: "say", text }));
      }
    }, 200);
    const started = Date.now();
    let flooded = 0;
    try {
      while (closed === undefined && Date.now() - started < FLOOD_MS) {
        for (let i = 0; i < 200 && flooder.ws.readyState === flooder.ws.OPEN; i++) {
          flooder.ws.send(JSON.stringify({ type: "say", text: `flood ${flooded++}` }));
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await until("the flooder's close", () => closed !== undefined, 10_000);
    } finally {
      clearInterval(calm);
    }
    expect(closed?.code).toBe(1008);
    expect(closed?.reason).toBe("rate limit exceeded: kept sending after rate_limited errors");
    // The flood stopped at its socket: the others heard the flooder leave,
    // got every one of their own messages, and at most the burst and the
    // refill of the flooder's.
    const messages = (c: Chatter) =>
      c.frames.flatMap((f) => (f.type === "message" ? [f.text] : []));
    await until("every calm message", () =>
      others.every((c) => said.every((text) => messages(c).includes(text))),
    );
    for (const c of others) {
      expect(c.frames).toContainEqual(expect.objectContaining({ type: "left", name: "flooder" }));
      const fromFlooder = messages(c).filter((text) => text.startsWith("flood ")).length;
      const seconds = (Date.now() - started) / 1000;
      expect(fromFlooder).toBeLessThanOrEqual(40 + Math.ceil(20 * seconds));
    }
    expect(flooded).toBeGreaterThan(240);
    // And the room goes on.
    const before = others[0].frames.length;
    others[1].ws.send(JSON.stringify({ type: "say", text: "after the flood" }));
    await until("a message after the flood", () =>
      others[0].frames
        .slice(before)
        .some((f) => f.type === "message" && f.text === "after the flood"),
    );
    for (const c of others) c.ws.close(1000);
  });

  it("upgrades from one address past the Rate Limiting binding's limit get 429; other addresses get in", async () => {
    const flooder = "198.51.100.23";
    let accepted = 0;
    let refusedWith: number | undefined;
    // 60 per 10 s (wrangler.jsonc), in fixed windows: at most one rollover
    // while this runs lets up to twice that through before the first 429.
    while (refusedWith === undefined && accepted <= 125) {
      const status = await upgradeFrom(flooder);
      if (status === 101) accepted++;
      else refusedWith = status;
    }
    expect(refusedWith).toBe(429);
    expect(accepted).toBeGreaterThanOrEqual(60);
    expect(await upgradeFrom(flooder)).toBe(429);
    expect(await upgradeFrom("203.0.113.77")).toBe(101);
    expect(await upgradeFrom("2001:db8:77::1")).toBe(101);
    // Local clients (loopback, no header) are never counted.
    const local = await connect(`${server.ws}/websocket`);
    local.ws.close(1000);
  });

  it("logged no uncaught error", () => {
    expect(uncaughtErrors(server.output())).toEqual([]);
  });
});
