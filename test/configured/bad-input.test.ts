// README's bad-input table, the rows that need variables set: this project
// runs with test/configured/vars.ts (auth on, origins listed, small limits).
// Each test's title starts with its row's id.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { evict, expectRoster, freshRoom, joinAt, type Member } from "../worker/room";
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

  it("B15 a client that keeps sending past 5 x the burst is closed with 1008, across an eviction", async () => {
    const room = freshRoom();
    const ada = await joinAs(room, "Ada");
    const bob = await joinAs(room, "Bob");
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Bob" });
    for (let i = 0; i < BURST; i++) ada.send({ type: "ping" });
    for (let i = 0; i < BURST; i++) expect(await ada.next()).toEqual({ type: "pong" });
    // The empty bucket is in the attachment: an eviction does not refill it.
    await evict(room);
    const drops = 5 * BURST;
    for (let i = 0; i < drops; i++) ada.send({ type: "ping" });
    const answers = await Promise.all(Array.from({ length: drops }, () => ada.next()));
    const limited = answers.filter((f) => f.type === "error" && f.code === "rate_limited");
    // At 1 token/s at most a couple refill while the test runs.
    expect(limited.length).toBeGreaterThanOrEqual(drops - 2);
    for (let i = 0; i < 5; i++) ada.send({ type: "ping" });
    const closed = await ada.client.closed();
    expect(closed.code).toBe(1008);
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
    for (const headers of allowed) {
      const member = await joinAt(path, { headers });
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
});
