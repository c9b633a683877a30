// README's bad-input rows that only a real connection can send: frames and
// request lines that no WebSocket API produces, written byte by byte.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";
import { connect, rawHandshake } from "./net";

const PORT = 8832;
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: PORT, inspectorPort: 9332 });
});

afterAll(async () => {
  await server?.stop();
});

const next = async (client: Awaited<ReturnType<typeof connect>>) =>
  JSON.parse(await client.next()) as ServerFrame;

describe("bad input on the wire", () => {
  it("B3 invalid UTF-8 in a text frame: the runtime hands it over with U+FFFD in place of the bad bytes; it is then served as such", async () => {
    const room = `utf8-${Date.now()}`;
    const ada = await connect(`${server.ws}/rooms/${room}/websocket?name=Ada`);
    expect((await next(ada)).type).toBe("welcome");
    expect((await next(ada)).type).toBe("history");
    const raw = await rawHandshake(PORT, `/rooms/${room}/websocket?name=Raw`);
    expect(raw.status).toMatch(/^HTTP\/1\.1 101/);
    const frameOf = async () => JSON.parse((await raw.next()).payload.toString()) as ServerFrame;
    const welcome = await frameOf();
    expect(welcome.type).toBe("welcome");
    expect((await frameOf()).type).toBe("history");
    expect(await next(ada)).toMatchObject({ type: "joined", name: "Raw" });

    const bytes = (text: string, bad: number[]) => {
      const [before, after] = text.split("*");
      return new Uint8Array([...Buffer.from(before), ...bad, ...Buffer.from(after)]);
    };
    // Inside a string: a message whose text holds U+FFFD.
    raw.send(1, bytes('{"type":"say","text":"a*b"}', [0xff, 0xfe]));
    for (const frame of [await frameOf(), await next(ada)]) {
      expect(frame).toMatchObject({ type: "message", name: "Raw", text: "a\ufffd\ufffdb" });
    }
    // Where JSON needs a quote: bad_json, and the socket stays open.
    raw.send(1, bytes("{*}", [0xc3]));
    expect(await frameOf()).toMatchObject({ type: "error", code: "bad_json" });
    raw.send(1, Buffer.from('{"type":"ping"}'));
    expect(await frameOf()).toEqual({ type: "pong" });
    raw.socket.destroy();

    expect(await next(ada)).toMatchObject({ type: "left", name: "Raw" });
    ada.send(JSON.stringify({ type: "who" }));
    expect(await next(ada)).toMatchObject({ type: "roster", connections: [{ name: "Ada" }] });
    ada.close(1000);
  });

  it("B12 non-GET upgrades are refused, never upgraded: 400 from the runtime (405 from the Worker if one ever reaches it)", async () => {
    for (const path of [`/rooms/post-${Date.now()}/websocket`, "/websocket"]) {
      for (const method of ["POST", "PUT", "DELETE"]) {
        const raw = await rawHandshake(PORT, path, method);
        expect(raw.status, `${method} ${path}`).toMatch(/^HTTP\/1\.1 40[05] /);
        raw.socket.destroy();
      }
    }
  });

  it("logs no uncaught error", () => {
    expect(uncaughtErrors(server.output())).toEqual([]);
  });
});
