// README's "What the server answers to bad input" table, row by row, with the
// default configuration (no vars set). Each test's title starts with its row's
// id; rows that need vars set are in test/configured/, the invalid-UTF-8 row
// in test/e2e/. test/docs/readme.test.ts checks that every row has a test.
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker, { type WebSocketHibernationServer } from "../../js/index";
import { drain, evict, expectRoster, freshRoom, join, joinAll, joinAt, stats } from "./room";
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

/** The Worker's env with one variable set. */
function withVar(name: string, value: string): Env {
  return { ...env, [name]: value };
}

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

  it("B15 past the burst (40) frames are dropped, told rate_limited at most once per refill interval (50 ms); the socket stays", async () => {
    const ada = await join(freshRoom(), "Ada");
    const sent = 100;
    const started = Date.now();
    for (let i = 0; i < sent; i++) ada.send({ type: "ping" });
    const answers = await drain(ada);
    const elapsed = Date.now() - started;
    const pongs = answers.filter((frame) => frame.type === "pong").length;
    const limited = answers.filter((f) => f.type === "error" && f.code === "rate_limited").length;
    expect(pongs + limited).toBe(answers.length);
    // 40 from the full bucket, plus what 20/s refilled while the frames arrived.
    expect(pongs).toBeGreaterThanOrEqual(40);
    expect(limited).toBeGreaterThanOrEqual(1);
    expect(limited).toBeLessThanOrEqual(1 + Math.ceil(elapsed / 50));
    // The rest were dropped without a word.
    expect(pongs + limited).toBeLessThan(sent);
    // The bucket refilled while the test waited: served again.
    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
  });

  it("B22 who after anything not written as a cursor (a member id, made-up text): unknown_cursor; a well-formed cursor is a place, whoever wrote it", async () => {
    const [ada, bob] = await joinAll(freshRoom(), ["Ada", "Bob"]);
    bob.client.close(1000);
    expect(await ada.next()).toMatchObject({ type: "left", id: bob.id, count: 1 });
    for (const after of [bob.id, ada.id, "nobody-here", "12.", ".x", "x".repeat(300)]) {
      ada.send({ type: "who", after });
      const error = await ada.next();
      expect(error, after).toMatchObject({ type: "error", code: "unknown_cursor" });
      if (error.type === "error") expect(error.message).toContain(after.slice(0, 64));
    }
    // `{joined_at}.{id}` is a place in the join order even if no roster
    // gave it (one whose member left looks the same): the page after it.
    ada.send({ type: "who", after: "0.made-up" });
    expect(await ada.next()).toEqual({
      type: "roster",
      count: 1,
      connections: [{ id: ada.id, name: "Ada" }],
    });
    ada.send({ type: "who", after: `${Number.MAX_SAFE_INTEGER}.zzz` });
    expect(await ada.next()).toEqual({ type: "roster", count: 1, connections: [] });
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  it("B24 stats of a room that never had a member: 200 with wakes 0, and nothing is stored", async () => {
    const room = freshRoom();
    for (let i = 0; i < 3; i++) {
      expect(await stats(room)).toMatchObject({ room, connections: 0, wakes: 0 });
      await evict(room);
    }
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    const stored = await runInDurableObject(stub, (_, state) => ({
      keys: [...state.storage.kv.list()].length,
      tables: state.storage.sql
        .exec(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'",
        )
        .toArray(),
    }));
    expect(stored).toEqual({ keys: 0, tables: [] });
  });

  it("B25 a text frame whose length alone is over MAX_MESSAGE_BYTES: close 1009 before it is copied into the core (memory_bytes unchanged)", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const before = (await stats(room)).memory_bytes;
    // 16 Mi characters of 2 bytes: 32 MiB, the platform's largest frame.
    ada.client.send("é".repeat(16 << 20));
    const closed = await ada.client.closed(20_000);
    expect(closed.code).toBe(1009);
    expect(closed.reason).toBe(`frame of at least ${16 << 20} bytes is over the limit of 65536`);
    expect(await bob.next()).toEqual({ type: "left", id: ada.id, name: "Ada", count: 1 });
    const echo = await connectObject(freshName());
    echo.send("x".repeat(8 << 20));
    expect((await echo.closed(20_000)).code).toBe(1009);
    // Copied, 32 MiB of UTF-8 would have grown the memory by as much.
    expect((await stats(room)).memory_bytes - before).toBeLessThan(1 << 20);
  });

  it("B27 MAX_MESSAGE_BYTES above 2 MiB (2097152): 500 bad_config naming the variable", async () => {
    const errors: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      for (const value of ["2097153", "33554432"]) {
        const response = await worker.fetch(
          new Request(`http://example.com/rooms/${freshRoom()}`),
          withVar("MAX_MESSAGE_BYTES", value),
        );
        expect(await refusal(response)).toEqual({ status: 500, code: "bad_config" });
        expect(String(errors.at(-1)?.[0])).toContain("MAX_MESSAGE_BYTES");
        expect(String(errors.at(-1)?.[0])).toContain("from 1 to 2097152");
      }
    } finally {
      console.error = original;
    }
    const response = await worker.fetch(
      new Request(`http://example.com/rooms/${freshRoom()}`),
      withVar("MAX_MESSAGE_BYTES", "2097152"),
    );
    expect(response.status).toBe(200);
  });

  it("B30 requests from one client address past the Rate Limiting binding's limit: 429 too_many_requests; other addresses are served", async () => {
    const from = (address: string, path: string, upgrade = false) =>
      exports.default.fetch(`http://example.com${path}`, {
        headers: { "CF-Connecting-IP": address, ...(upgrade ? { Upgrade: "websocket" } : {}) },
      });
    const room = freshRoom();
    // The binding counts in fixed windows (wrangler.jsonc: 60 per 10 s); a
    // window may roll over once while this runs, so up to twice the limit
    // may pass before the first refusal.
    const flooder = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    let served = 0;
    let refused: Response | undefined;
    while (refused === undefined && served <= 120) {
      const response = await from(flooder, `/rooms/${room}`);
      if (response.status === 429) refused = response;
      else {
        expect(response.status).toBe(200);
        served++;
      }
    }
    expect(refused, `still served after ${served}`).toBeDefined();
    expect(served).toBeGreaterThanOrEqual(60);
    if (refused) expect(await refusal(refused)).toEqual({ status: 429, code: "too_many_requests" });
    // An upgrade from it is refused before any object wakes; another
    // address (and an IPv6 neighbour of another /64) is served.
    expect((await from(flooder, `/rooms/${room}/websocket`, true)).status).toBe(429);
    const other = await from("203.0.113.9", `/rooms/${room}/websocket`, true);
    expect(other.status).toBe(101);
    other.webSocket?.accept();
    other.webSocket?.close(1000);
  });

  it("B32 a socket that fails and then closes is announced left once, also when an eviction comes between", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    // The runtime reports an error on Ada's socket (webSocketError, as a
    // broken connection would).
    await runInDurableObject(stub, (instance: WebSocketHibernationServer, state) => {
      for (const ws of state.getWebSockets(ada.id)) instance.webSocketError(ws, new Error("test"));
    });
    expect(await bob.next()).toEqual({ type: "left", id: ada.id, name: "Ada", count: 1 });
    await evict(room);
    // Then its close reaches the new instance.
    ada.client.close(1000);
    await ada.client.closed();
    await vi.waitFor(async () => {
      const open = await runInDurableObject(stub, (_, state) => state.getWebSockets().length);
      expect(open).toBe(1);
    });
    // Nothing more for Bob: the next frame he gets is his own pong.
    bob.send({ type: "ping" });
    expect(await bob.next()).toEqual({ type: "pong" });
    await expectRoster(bob, [{ id: bob.id, name: "Bob" }]);
  });

  it("B33 a member the server closed (1009) whose object is evicted before the close completes is announced left once and never restored", async () => {
    const room = freshRoom();
    const [bob] = await joinAll(room, ["Bob"]);
    // Ada's socket does not answer the server's Close until told to.
    const response = await exports.default.fetch(
      `http://example.com/rooms/${room}/websocket?name=Ada`,
      { headers: { Upgrade: "websocket" } },
    );
    const ada = response.webSocket;
    if (!ada) throw new Error(`expected a WebSocket, got ${response.status}`);
    ada.accept();
    const closed = new Promise<number>((resolve) =>
      ada.addEventListener("close", (event) => resolve(event.code)),
    );
    const joined = await bob.next();
    expect(joined).toMatchObject({ type: "joined", name: "Ada" });
    ada.send("x".repeat(65_537));
    expect(await bob.next()).toMatchObject({ type: "left", name: "Ada", count: 1 });
    expect(await closed).toBe(1009);
    await evict(room);
    // The new instance finds Ada's socket without a member; its close,
    // completed now, announces nothing.
    ada.close(1009, "client completes close");
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    await vi.waitFor(async () => {
      const open = await runInDurableObject(stub, (_, state) => state.getWebSockets().length);
      expect(open).toBe(1);
    });
    bob.send({ type: "ping" });
    expect(await bob.next()).toEqual({ type: "pong" });
    await expectRoster(bob, [{ id: bob.id, name: "Bob" }]);
  });

  it("B35 names with invisible or reordering characters (U+200B, U+202E, U+2066, U+FEFF, U+2028, U+00AD): invalid_field, in hello and ?name=", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    for (const name of [
      "Ada\u200B",
      "\u202EadA",
      "A\u2066da",
      "\uFEFFAda",
      "Ada\u2028Bob",
      "Ad\u00ADa",
    ]) {
      ada.send({ type: "hello", name });
      const error = await ada.next();
      expect(error, JSON.stringify(name)).toMatchObject({ type: "error", code: "invalid_field" });
      if (error.type === "error") expect(error.message).toMatch(/U\+[0-9A-F]{4}/);
      const response = await exports.default.fetch(
        `http://example.com/rooms/${room}/websocket?name=${encodeURIComponent(name)}`,
        { headers: { Upgrade: "websocket" } },
      );
      expect(await refusal(response)).toEqual({ status: 400, code: "invalid_field" });
    }
    // Visible letters, accents and emoji pass.
    ada.send({ type: "hello", name: "Zoë 👋🏽" });
    expect(await ada.next()).toMatchObject({ type: "renamed", name: "Zoë 👋🏽" });
  });

  /** Upgrades to `room` with `query`: the refusal's status and code. */
  async function upgradeWith(room: string, query: string) {
    const response = await exports.default.fetch(
      `http://example.com/rooms/${room}/websocket?name=Eve&${query}`,
      { headers: { Upgrade: "websocket" } },
    );
    expect(response.webSocket, query).toBeNull();
    return refusal(response);
  }

  it("B40 a ?since= that is not a non-negative integer: 400 invalid_field, before any upgrade", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    const epoch = ada.welcome.epoch ?? "";
    for (const since of ["", "-1", "1.5", "+1", "1e3", "one", "0x10", "18446744073709551616"]) {
      const query = `since=${encodeURIComponent(since)}&epoch=${epoch}`;
      expect(await upgradeWith(room, query), query).toEqual({ status: 400, code: "invalid_field" });
    }
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  it("B41 an ?epoch= not of an epoch's shape (empty, over 32 characters, other characters): 400 invalid_field", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    for (const epoch of ["", "e".repeat(33), "a.b", "a b", "é", "a/b"]) {
      const query = `since=0&epoch=${encodeURIComponent(epoch)}`;
      expect(await upgradeWith(room, query), query).toEqual({ status: 400, code: "invalid_field" });
    }
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  it("B42 ?since= without ?epoch=, or ?epoch= without ?since=: 400 invalid_field", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    for (const query of ["since=0", `epoch=${ada.welcome.epoch}`]) {
      expect(await upgradeWith(room, query), query).toEqual({ status: 400, code: "invalid_field" });
    }
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  /** A room where Ada said "one" and "two"; `resumeWith(query)` joins with it. */
  async function roomWithTwo() {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    const said = [];
    for (const text of ["one", "two"]) {
      ada.send({ type: "say", text });
      said.push(await ada.next());
    }
    const resumeWith = (query: string) => joinAt(`/rooms/${room}/websocket?name=Bob&${query}`);
    return { ada, said, resumeWith };
  }

  it("B43 a resume under an epoch that is not the room's (stale, another room's, made up): joined, recovered false, the latest messages", async () => {
    const { said, resumeWith } = await roomWithTwo();
    const other = await joinAll(freshRoom(), ["Cy"]);
    for (const epoch of ["made-up", other[0].welcome.epoch]) {
      const bob = await resumeWith(`since=1&epoch=${epoch}`);
      expect(bob.history, epoch).toEqual({ type: "history", recovered: false, messages: said });
    }
  });

  it("B44 a resume with a ?since= beyond the room's last seq: joined, recovered false, the latest messages", async () => {
    const { ada, said, resumeWith } = await roomWithTwo();
    for (const since of [3, 2 ** 53]) {
      const bob = await resumeWith(`since=${since}&epoch=${ada.welcome.epoch}`);
      expect(bob.history, String(since)).toEqual({
        type: "history",
        recovered: false,
        messages: said,
      });
    }
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
        ["HISTORY_LIMIT", "-1"],
        ["HISTORY_ON_JOIN", "1001"],
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
