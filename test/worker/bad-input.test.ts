// README's "What the server answers to bad input" table, row by row, with the
// default configuration (no vars set). Each test's title starts with its row's
// id; rows that need vars set are in test/configured/, the invalid-UTF-8 row
// in test/e2e/. test/docs/readme.test.ts checks that every row has a test.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../js/index";
import { expectRoster, freshRoom, join, joinAll } from "./room";
import { connectObject, connectWorker, freshName } from "./socket";

/** The JSON error of a refused request: its status, code and message. */
async function refusal(response: Response) {
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(response.headers.get("Content-Type")).toBe("application/json;charset=UTF-8");
  expect(body.error.message.length).toBeGreaterThan(0);
  return { status: response.status, code: body.error.code };
}

/** A frame of exactly `bytes` UTF-8 bytes that the room answers with pong. */
function pingOf(bytes: number): string {
  const frame = `{"type":"ping","pad":"${"x".repeat(bytes - 24)}"}`;
  expect(new TextEncoder().encode(frame).length).toBe(bytes);
  return frame;
}

const DEFAULT_MAX_MESSAGE_BYTES = 65_536;

describe("bad input (default configuration)", () => {
  it("B1 binary frame on a room: error unsupported_data, the socket stays open", async () => {
    const [ada] = await joinAll(freshRoom(), ["Ada"]);
    ada.client.send(new Uint8Array([1, 2, 3]).buffer);
    expect(await ada.next()).toMatchObject({ type: "error", code: "unsupported_data" });
    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
  });

  it("B2 binary frame on /websocket: closed with 1003", async () => {
    const echo = await connectObject(freshName());
    echo.send(new Uint8Array([1]).buffer);
    expect((await echo.closed()).code).toBe(1003);
  });

  it("B4 B5 B6 B7 malformed frames: bad_json, unknown_type, invalid_field; the socket stays", async () => {
    const [ada] = await joinAll(freshRoom(), ["Ada"]);
    const table: Array<[string, string]> = [
      ["not json", "bad_json"], // B4
      ['{"type":"say"', "bad_json"], // B4
      ["[1,2]", "bad_json"], // B5
      ['"say"', "bad_json"], // B5
      ["null", "bad_json"], // B5
      ["{}", "unknown_type"], // B6
      ['{"type":5}', "unknown_type"], // B6
      ['{"type":"shout"}', "unknown_type"], // B6
      ['{"type":"say"}', "invalid_field"], // B7
      ['{"type":"say","text":5}', "invalid_field"], // B7
      ['{"type":"whisper","text":"x"}', "invalid_field"], // B7
      ['{"type":"hello","name":null}', "invalid_field"], // B7
    ];
    for (const [frame, code] of table) {
      ada.client.send(frame);
      expect(await ada.next(), frame).toMatchObject({ type: "error", code });
    }
    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
  });

  it("B8 text over 4096 characters, or blank: invalid_field", async () => {
    const [ada, bob] = await joinAll(freshRoom(), ["Ada", "Bob"]);
    ada.send({ type: "say", text: "é".repeat(4097) });
    expect(await ada.next()).toMatchObject({ type: "error", code: "invalid_field" });
    ada.send({ type: "say", text: "  " });
    expect(await ada.next()).toMatchObject({ type: "error", code: "invalid_field" });
    ada.send({ type: "say", text: "é".repeat(4096) });
    expect(await bob.next()).toMatchObject({ type: "message", text: "é".repeat(4096) });
  });

  it("B9 bad names (too long, blank, control characters): invalid_field, in hello and ?name=", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    for (const name of ["n".repeat(33), "   ", "a\u0007b", "line\nbreak", "del\u007f"]) {
      ada.send({ type: "hello", name });
      expect(await ada.next(), JSON.stringify(name)).toMatchObject({
        type: "error",
        code: "invalid_field",
      });
      const response = await exports.default.fetch(
        `http://example.com/rooms/${room}/websocket?name=${encodeURIComponent(name)}`,
        { headers: { Upgrade: "websocket" } },
      );
      expect(await refusal(response)).toEqual({ status: 400, code: "invalid_field" });
    }
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  it("B10 whisper to oneself or to an unknown id: unknown_recipient", async () => {
    const [ada] = await joinAll(freshRoom(), ["Ada"]);
    for (const to of [ada.id, "nobody-here", ""]) {
      ada.send({ type: "whisper", to, text: "psst" });
      expect(await ada.next(), to).toMatchObject({ type: "error", code: "unknown_recipient" });
    }
  });

  it("B11 hostile room names: 400 bad_room", async () => {
    for (const room of [
      "%2E%2E%2E",
      "...",
      "a%2Fb",
      "a".repeat(65),
      "l%D0%BEbby",
      "ℓobby",
      "a b",
    ]) {
      const response = await exports.default.fetch(`http://example.com/rooms/${room}/websocket`, {
        headers: { Upgrade: "websocket" },
      });
      expect(await refusal(response), room).toEqual({ status: 400, code: "bad_room" });
    }
    // `..` is a dot segment: the URL resolves to /websocket before routing, never a room "..".
    const dots = await exports.default.fetch("http://example.com/rooms/../websocket");
    expect(await dots.text()).toBe("Durable Object expected Upgrade: websocket");
  });

  it("B12 non-GET requests to a room: 405 with Allow: GET (upgrades: see test/e2e)", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const room = await exports.default.fetch(`http://example.com/rooms/${freshRoom()}`, {
        method,
      });
      expect(room.headers.get("Allow")).toBe("GET");
      expect(await refusal(room)).toEqual({ status: 405, code: "method_not_allowed" });
    }
  });

  it("B13 the Upgrade header: websocket in any case, padded, is accepted; a list is 426", async () => {
    for (const upgrade of ["websocket", "WebSocket", "WEBSOCKET", "  websocket "]) {
      const client = await connectWorker("/websocket", { headers: { Upgrade: upgrade } });
      client.send("hi");
      expect(await client.next()).toMatch(/^\[Durable Object\] message: hi, connections: \d+$/);
      client.close(1000);
    }
    for (const upgrade of ["web socket", "websocket2", "h2c", "", "h2c, websocket"]) {
      const response = await exports.default.fetch("http://example.com/websocket", {
        headers: { Upgrade: upgrade },
      });
      expect(response.status, upgrade).toBe(426);
    }
  });

  it("B14 a frame of MAX_MESSAGE_BYTES (65536) is served; one byte more closes with 1009", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    for (const bytes of [DEFAULT_MAX_MESSAGE_BYTES - 1, DEFAULT_MAX_MESSAGE_BYTES]) {
      ada.client.send(pingOf(bytes));
      expect(await ada.next(), `${bytes} bytes`).toEqual({ type: "pong" });
    }
    ada.client.send(pingOf(DEFAULT_MAX_MESSAGE_BYTES + 1));
    const closed = await ada.client.closed();
    expect(closed.code).toBe(1009);
    expect(closed.reason).toContain("65537 bytes");
    expect(await bob.next()).toEqual({ type: "left", id: ada.id, name: "Ada", count: 1 });
    // `/websocket` has the same limit.
    const echo = await connectObject(freshName());
    echo.send("s".repeat(DEFAULT_MAX_MESSAGE_BYTES));
    expect(await echo.next()).toMatch(/connections: 1$/);
    echo.send("s".repeat(DEFAULT_MAX_MESSAGE_BYTES + 1));
    expect((await echo.closed()).code).toBe(1009);
  });

  it("B15 past the burst (40) frames are dropped with rate_limited; the socket stays", async () => {
    const ada = await join(freshRoom(), "Ada");
    const sent = 100;
    for (let i = 0; i < sent; i++) ada.send({ type: "ping" });
    const answers = await Promise.all(Array.from({ length: sent }, () => ada.next()));
    const pongs = answers.filter((frame) => frame.type === "pong").length;
    const limited = answers.filter((f) => f.type === "error" && f.code === "rate_limited").length;
    // 40 from the full bucket, plus what 20/s refilled while the frames arrived.
    expect(pongs).toBeGreaterThanOrEqual(40);
    expect(limited).toBeGreaterThan(0);
    expect(pongs + limited).toBe(sent);
    // (test/configured: the bucket survives an eviction; 5 x the burst closes with 1008.)
  });

  it("B22 who after anything but a roster's next (a member id, a made-up text): unknown_cursor; the socket stays", async () => {
    const [ada, bob] = await joinAll(freshRoom(), ["Ada", "Bob"]);
    bob.client.close(1000);
    expect(await ada.next()).toMatchObject({ type: "left", id: bob.id, count: 1 });
    for (const after of [bob.id, ada.id, "nobody-here", "12.", "x".repeat(300)]) {
      ada.send({ type: "who", after });
      const error = await ada.next();
      expect(error, after).toMatchObject({ type: "error", code: "unknown_cursor" });
      if (error.type === "error") expect(error.message).toContain(after.slice(0, 64));
    }
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  it("B20 an invalid configuration value: 500 bad_config naming the variable, for every request", async () => {
    const errors: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      for (const [name, value] of [
        ["MAX_MESSAGE_BYTES", "64k"],
        ["RATE_LIMIT_PER_SECOND", "0"],
        ["AUTH_SECRET", "too short"],
        ["ALLOWED_ORIGINS", "example.com"],
        ["PRESENCE_LIMIT", "1001"],
        ["IDLE_TIMEOUT_SECONDS", "2m"],
      ]) {
        for (const path of ["/websocket", `/rooms/${freshRoom()}`, "/other"]) {
          const response = await worker.fetch(new Request(`http://example.com${path}`), {
            ...env,
            [name]: value,
          });
          const { status, code } = await refusal(response);
          expect({ status, code }, `${name} ${path}`).toEqual({ status: 500, code: "bad_config" });
        }
        expect(String(errors.at(-1)?.[0])).toContain(name);
      }
      expect(errors.some((line) => String(line).includes("too short"))).toBe(false);
    } finally {
      console.error = original;
    }
  });
});
