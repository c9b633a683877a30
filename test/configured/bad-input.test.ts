// README's bad-input table, the rows that need variables set: this project
// runs with test/configured/vars.ts (auth on, origins listed, small limits).
// Each test's title starts with its row's id.
import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { drain, evict, expectRoster, freshRoom, joinAt, type Member } from "../worker/room";
import { connectWorker } from "../worker/socket";
import { claims, mint } from "./token";
import { CONFIGURED } from "./vars";

/** Joins `room` as `name` with a token for that room. */
async function joinAs(room: string, name: string, query = ""): Promise<Member> {
  const token = await mint(claims(name, room));
  return joinAt(`/rooms/${room}/websocket?token=${token}${query}`);
}

async function upgrade(path: string, headers: Record<string, string> = {}) {
  return exports.default.fetch(`http://example.com${path}`, {
    headers: { Upgrade: "websocket", ...headers },
  });
}

async function refusal(response: Response) {
  expect(response.headers.get("Content-Type")).toBe("application/json;charset=UTF-8");
  const body = (await response.json()) as {
    error: { code: string; message: string; reason?: string };
  };
  expect(body.error.message.length).toBeGreaterThan(0);
  return { status: response.status, code: body.error.code, reason: body.error.reason };
}

/** A frame of exactly `bytes` UTF-8 bytes that the room answers with pong. */
function pingOf(bytes: number): string {
  return `{"type":"ping","pad":"${"x".repeat(bytes - 24)}"}`;
}

/** `text` with its first character changed to another base64url character. */
function flip(text: string): string {
  return (text[0] === "A" ? "B" : "A") + text.slice(1);
}

const MAX_BYTES = Number(CONFIGURED.MAX_MESSAGE_BYTES);
const BURST = Number(CONFIGURED.RATE_LIMIT_BURST);

describe("bad input (configured: test/configured/vars.ts)", () => {
  it("B8 text over MAX_TEXT_CHARS (100 here): invalid_field", async () => {
    const ada = await joinAs(freshRoom(), "Ada");
    ada.send({ type: "say", text: "x".repeat(101) });
    expect(await ada.next()).toMatchObject({ type: "error", code: "invalid_field" });
    ada.send({ type: "say", text: "x".repeat(100) });
    expect(await ada.next()).toMatchObject({ type: "message", text: "x".repeat(100) });
  });

  it("B14 a frame of MAX_MESSAGE_BYTES (1024 here) is served; one byte more closes with 1009", async () => {
    const room = freshRoom();
    const ada = await joinAs(room, "Ada");
    const bob = await joinAs(room, "Bob");
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Bob" });
    for (const bytes of [MAX_BYTES - 1, MAX_BYTES]) {
      ada.client.send(pingOf(bytes));
      expect(await ada.next(), `${bytes} bytes`).toEqual({ type: "pong" });
    }
    ada.client.send(new Uint8Array(MAX_BYTES + 1).buffer);
    expect((await ada.client.closed()).code).toBe(1009);
    expect(await bob.next()).toEqual({ type: "left", id: ada.id, name: "Ada", count: 1 });
    const echo = await connectWorker(`/websocket?token=${await mint(claims("Echo"))}`);
    echo.send("s".repeat(MAX_BYTES));
    expect(await echo.next()).toMatch(/^\[Durable Object\] message: s+, connections: \d+$/);
    echo.send("s".repeat(MAX_BYTES + 1));
    expect((await echo.closed()).code).toBe(1009);
  });

  it("B15 past the burst frames are dropped and rate_limited is told once per refill interval (1 s here); the bucket survives an eviction", async () => {
    const room = freshRoom();
    const ada = await joinAs(room, "Ada");
    for (let i = 0; i < BURST; i++) ada.send({ type: "ping" });
    for (let i = 0; i < BURST; i++) expect(await ada.next()).toEqual({ type: "pong" });
    // The empty bucket is in the attachment: an eviction does not refill it.
    await evict(room);
    for (let i = 0; i < 10; i++) ada.send({ type: "ping" });
    const answers = await drain(ada);
    // At 1 token/s hardly one refills while this runs: one rate_limited,
    // and the other frames dropped without a word.
    const limited = answers.filter((f) => f.type === "error" && f.code === "rate_limited");
    expect(limited).toHaveLength(1);
    expect(answers.length).toBeLessThanOrEqual(2);
  });

  it("B28 a sustained flood is closed with 1008 though the refill lets frames through: strikes add up across them and an eviction", async () => {
    const room = freshRoom();
    const ada = await joinAs(room, "Ada");
    const bob = await joinAs(room, "Bob");
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Bob" });
    // The burst (5) is served, 12 frames are dropped: 12 strikes of the 25
    // (5 × burst) a socket may have.
    for (let i = 0; i < BURST + 12; i++) ada.send({ type: "ping" });
    await drain(ada);
    // Strikes live in the attachment, with the bucket.
    await evict(room);
    // Ada keeps trying until the refill (1 token/s) lets a frame through;
    // before strikes faded slowly, that reset the count and a flood was
    // never closed.
    let served = false;
    for (let i = 0; i < 20 && !served; i++) {
      ada.send({ type: "ping" });
      served = await ada.next(250).then(
        (frame) => frame.type === "pong",
        () => false,
      );
    }
    expect(served).toBe(true);
    // 15 more dropped frames pass 25 strikes only with those from before.
    for (let i = 0; i < 15; i++) ada.send({ type: "ping" });
    expect(await ada.client.closed()).toMatchObject({
      code: 1008,
      reason: "rate limit exceeded: kept sending after rate_limited errors",
    });
    expect(await bob.next()).toEqual({ type: "left", id: ada.id, name: "Ada", count: 1 });
    bob.send({ type: "ping" });
    expect(await bob.next()).toEqual({ type: "pong" });
  });

  it("B16 an upgrade to a full room (MAX_CONNECTIONS_PER_ROOM, 3 here): 503 room_full, also after an eviction", async () => {
    const room = freshRoom();
    const members = [await joinAs(room, "A"), await joinAs(room, "B"), await joinAs(room, "C")];
    const token = await mint(claims("D", room));
    const full = await upgrade(`/rooms/${room}/websocket?token=${token}`);
    expect(await refusal(full)).toMatchObject({ status: 503, code: "room_full" });
    await evict(room);
    const stillFull = await upgrade(`/rooms/${room}/websocket?token=${token}`);
    expect(await refusal(stillFull)).toMatchObject({ status: 503, code: "room_full" });
    members[0].client.close(1000);
    await members[0].client.closed();
    // C made 3, above PRESENCE_LIMIT (2 here): no joined; A's leave makes 2: left.
    expect(await members[1].next()).toMatchObject({ type: "left", name: "A", count: 2 });
    const dee = await joinAt(`/rooms/${room}/websocket?token=${token}`);
    expect(dee.welcome.count).toBe(3);
    expect(dee.welcome.connections.map((peer) => peer.name)).toEqual(["B", "D"]);
  });

  it("B17 an upgrade whose Origin is not in ALLOWED_ORIGINS: 403 forbidden_origin", async () => {
    const room = freshRoom();
    const path = `/rooms/${room}/websocket?token=${await mint(claims("Ada", room))}`;
    for (const origin of ["https://evil.example", "null", "http://app.example"]) {
      const response = await upgrade(path, { Origin: origin });
      expect(await refusal(response), origin).toMatchObject({
        status: 403,
        code: "forbidden_origin",
      });
    }
    const allowed: Array<Record<string, string>> = [
      { Origin: "https://app.example" },
      { Origin: "HTTP://LOCALHOST:8787" },
      {},
    ];
    for (const [i, headers] of allowed.entries()) {
      // One subject per socket: a subject may hold only 2 (MAX_CONNECTIONS_PER_SUBJECT).
      const token = await mint(claims(`Ada${i}`, room));
      const member = await joinAt(`/rooms/${room}/websocket?token=${token}`, { headers });
      expect(member.welcome.type).toBe("welcome");
    }
  });

  it("B18 a missing, malformed, forged, expired or wrong-room token: 401 unauthorized with its reason", async () => {
    const room = freshRoom();
    const good = await mint(claims("Ada", room));
    const [payload, signature] = good.split(".");
    const table: Array<[string, string]> = [
      [`/rooms/${room}/websocket`, "missing"],
      [`/rooms/${room}/websocket?token=`, "missing"],
      [`/rooms/${room}/websocket?token=not-a-token`, "malformed"],
      [`/rooms/${room}/websocket?token=${payload}.${flip(signature)}`, "bad_signature"],
      [
        `/rooms/${room}/websocket?token=${await mint(claims("Ada", room), "another secret of 32 bytes, wrong!!")}`,
        "bad_signature",
      ],
      [
        `/rooms/${room}/websocket?token=${await mint({ ...claims("Ada", room), exp: 1 })}`,
        "expired",
      ],
      [`/rooms/other-${room}/websocket?token=${good}`, "wrong_room"],
      [`/websocket?token=${good}`, "wrong_room"],
      ["/websocket", "missing"],
    ];
    for (const [path, reason] of table) {
      const response = await upgrade(path);
      expect(response.headers.get("WWW-Authenticate"), path).toContain("Bearer");
      expect(await refusal(response), path).toEqual({ status: 401, code: "unauthorized", reason });
    }
  });

  it("B19 with a token the name is the token's: ?name= is ignored and hello answers forbidden, also after an eviction", async () => {
    const room = freshRoom();
    const ada = await joinAs(room, "Ada", "&name=Mallory");
    expect(ada.name).toBe("Ada");
    ada.send({ type: "hello", name: "Mallory" });
    expect(await ada.next()).toMatchObject({ type: "error", code: "forbidden" });
    await evict(room);
    ada.send({ type: "hello", name: "Mallory" });
    expect(await ada.next()).toMatchObject({ type: "error", code: "forbidden" });
    await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
  });

  it("B23 stats need a token valid for the room (and an allowed Origin): 401 unauthorized, 403 forbidden_origin", async () => {
    const room = freshRoom();
    const stats = (query: string, headers: Record<string, string> = {}) =>
      exports.default.fetch(`http://example.com/rooms/${room}${query}`, { headers });
    const table: Array<[string, string]> = [
      ["", "missing"],
      ["?token=not-a-token", "malformed"],
      [`?token=${await mint(claims("Ada", `other-${room}`))}`, "wrong_room"],
      [`?token=${await mint({ ...claims("Ada", room), exp: 1 })}`, "expired"],
    ];
    for (const [query, reason] of table) {
      const response = await stats(query);
      expect(await refusal(response), query).toEqual({ status: 401, code: "unauthorized", reason });
    }
    const token = `?token=${await mint(claims("Ada", room))}`;
    const evil = await stats(token, { Origin: "https://evil.example" });
    expect(await refusal(evil)).toMatchObject({ status: 403, code: "forbidden_origin" });
    for (const valid of [token, `?token=${await mint(claims("Ada"))}`]) {
      const response = await stats(valid);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ room, connections: 0, wakes: 0 });
    }
  });

  it("B29 more than MAX_CONNECTIONS_PER_SUBJECT (2 here) sockets of one token subject in a room: 429 too_many_connections, also after an eviction", async () => {
    const room = freshRoom();
    const token = await mint(claims("Ada", room));
    const path = `/rooms/${room}/websocket?token=${token}`;
    const first = await joinAt(path);
    const second = await joinAt(path);
    expect(await first.next()).toMatchObject({ type: "joined", id: second.id });
    const third = await upgrade(path);
    expect(await refusal(third)).toMatchObject({ status: 429, code: "too_many_connections" });
    await evict(room);
    expect(await refusal(await upgrade(path))).toMatchObject({
      status: 429,
      code: "too_many_connections",
    });
    // Another subject still gets in; once one of Ada's sockets closes, she can again.
    await joinAs(room, "Bob");
    first.client.close(1000);
    await first.client.closed();
    // (Bob made 3, above PRESENCE_LIMIT: no joined; Ada's leave makes 2: left.)
    expect(await second.next()).toMatchObject({ type: "left", id: first.id });
    const again = await joinAt(path);
    expect(again.welcome.count).toBe(3);
  });

  it("B31 a frame at or after the token's exp closes the socket with 1008 'token expired', the others get left, also after an eviction", async () => {
    const room = freshRoom();
    const exp = Math.floor(Date.now() / 1000) + 2;
    const ada = await joinAt(
      `/rooms/${room}/websocket?token=${await mint({ ...claims("Ada", room), exp })}`,
    );
    const bob = await joinAs(room, "Bob");
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Bob" });
    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
    await evict(room);
    // A bounded wait for the expiry itself (2 s at most).
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000), {
      timeout: 4_000,
      interval: 100,
    });
    ada.send({ type: "ping" });
    expect(await ada.client.closed()).toEqual({
      code: 1008,
      reason: `token expired at ${exp} (Unix seconds): reconnect with a fresh token`,
      wasClean: true,
    });
    expect(await bob.next()).toEqual({ type: "left", id: ada.id, name: "Ada", count: 1 });
    // `/websocket`, opened with a token without a room, expires the same way:
    // answered until then, closed at its first frame after.
    const echoToken = await mint({ ...claims("Echo"), exp: Math.floor(Date.now() / 1000) + 1 });
    const echo = await connectWorker(`/websocket?token=${echoToken}`);
    echo.send("before");
    expect(await echo.next()).toMatch(/^\[Durable Object\] message: before, connections: \d+$/);
    await vi.waitFor(
      async () => {
        echo.send("still there?");
        const closed = await echo.closed(150).catch(() => undefined);
        expect(closed?.code).toBe(1008);
        expect(closed?.reason).toMatch(/^token expired at \d+ \(Unix seconds\)/);
      },
      { timeout: 4_000, interval: 200 },
    );
  });

  it("B34 a /websocket upgrade to an object holding MAX_CONNECTIONS_PER_ROOM (3 here) sockets of either kind: 503 room_full", async () => {
    // The object "foo" serves /websocket and the room "foo": both count.
    const token = `?token=${await mint(claims("Echo"))}`;
    const open: Array<{ close(code?: number): void; closed(): Promise<unknown> }> = [];
    let refused: Response | undefined;
    for (let i = 0; i < 4 && refused === undefined; i++) {
      const response = await upgrade(`/websocket${token}`);
      if (response.status === 101 && response.webSocket) {
        response.webSocket.accept();
        const ws = response.webSocket;
        open.push({
          close: (code) => ws.close(code),
          closed: () => new Promise((resolve) => ws.addEventListener("close", resolve)),
        });
      } else refused = response;
    }
    // Other tests of this file may hold sockets of "foo" too: at most 3 opened.
    expect(open.length).toBeLessThanOrEqual(3);
    expect(refused).toBeDefined();
    if (refused) expect(await refusal(refused)).toMatchObject({ status: 503, code: "room_full" });
    for (const ws of open) ws.close(1000);
  });

  it("B35 a token whose name has an invisible or reordering character: 401 unauthorized (malformed)", async () => {
    const room = freshRoom();
    for (const name of ["Ada\u200B", "\u202EadA", "Ad\u2060a"]) {
      const response = await upgrade(
        `/rooms/${room}/websocket?token=${await mint(claims(name, room))}`,
      );
      expect(await refusal(response), JSON.stringify(name)).toEqual({
        status: 401,
        code: "unauthorized",
        reason: "malformed",
      });
    }
  });

  it("B36 a token spelled otherwise than canonical unpadded base64url (padding, spare bits set): 401 unauthorized", async () => {
    const room = freshRoom();
    const good = await mint(claims("Ada", room));
    const [payload, signature] = good.split(".");
    // The signature's 43rd character carries 2 spare bits; flipping the
    // lowest gives another spelling of the same 32 bytes.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(signature.at(-1) ?? "A");
    const spare = `${signature.slice(0, -1)}${alphabet[last ^ 1]}`;
    const table: Array<[string, string]> = [
      [`${good}=`, "malformed"],
      [`${good}==`, "malformed"],
      [`${payload}.${spare}`, "malformed"],
      // The signature covers the claims as written: another spelling of
      // them is another text, refused before it is decoded.
      [`${payload}=.${signature}`, "bad_signature"],
    ];
    for (const [token, reason] of table) {
      const response = await upgrade(`/rooms/${room}/websocket?token=${encodeURIComponent(token)}`);
      expect(await refusal(response), token).toEqual({ status: 401, code: "unauthorized", reason });
    }
    expect((await joinAt(`/rooms/${room}/websocket?token=${good}`)).name).toBe("Ada");
  });
});
