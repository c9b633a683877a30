// The room client of js/client.ts: against a real room through the Worker,
// and with a fake socket and hand-run timers for reconnects, backoff and the
// queue, where a real server could not be made to fail on cue.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_KEEPALIVE_MS,
  type HistoryEvent,
  type Message,
  type Presence,
  RoomClient,
  type RoomClientOptions,
  type ServerFrame,
  type SocketLike,
  type Status,
  type Timers,
  type TokenRequest,
  UpgradeRefused,
} from "../../js/client";
import { withTimeout } from "../shared/client";
import { freshRoom, join } from "./room";
import { workerConnect } from "./socket";

/** Records a client's frames and statuses; awaits them with a timeout. */
function watch(client: RoomClient) {
  const frames: ServerFrame[] = [];
  const statuses: Status[] = [];
  const texts: string[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  client.on("frame", (frame) => {
    frames.push(frame);
    wake();
  });
  client.on("status", (status) => {
    statuses.push(status);
    wake();
  });
  client.on("text", (text) => {
    texts.push(text);
    wake();
  });
  /** Resolves with the first value `find` returns, checking again after every event. */
  const until = <T>(what: string, find: () => T | undefined, ms = 5_000): Promise<T> =>
    withTimeout(
      new Promise<T>((resolve) => {
        const check = () => {
          const found = find();
          if (found !== undefined) resolve(found);
          else waiters.push(check);
        };
        check();
      }),
      ms,
      what,
    );
  return {
    frames,
    statuses,
    texts,
    until,
    /** The next frame of `type` after the first `skip` of them. */
    frame<K extends ServerFrame["type"]>(type: K, skip = 0) {
      return until(`a ${type} frame`, () => {
        const matching = frames.filter((f) => f.type === type);
        return matching[skip] as Extract<ServerFrame, { type: K }> | undefined;
      });
    },
    state(state: Status["state"], skip = 0) {
      return until(`status ${state}`, () => statuses.filter((s) => s.state === state)[skip]);
    },
  };
}

describe("RoomClient against a real room", () => {
  it("sends and receives typed frames: welcome, joined, say, whisper", async () => {
    const room = freshRoom();
    const { connect } = workerConnect();
    const base = "ws://example.com";
    const ada = new RoomClient({ base, room, name: "Ada", connect });
    const adaSees = watch(ada);
    const adaWelcome = await adaSees.frame("welcome");
    const bob = new RoomClient({ base, room, name: "Bob", connect });
    const bobSees = watch(bob);
    const bobWelcome = await bobSees.frame("welcome");
    expect(bobWelcome.connections.map((peer) => peer.name)).toEqual(["Ada", "Bob"]);
    expect(await adaSees.frame("joined")).toEqual({
      type: "joined",
      id: bobWelcome.id,
      name: "Bob",
      count: 2,
    });
    expect(ada.presence).toEqual({
      self: { id: adaWelcome.id, name: "Ada" },
      count: 2,
      peers: [
        { id: adaWelcome.id, name: "Ada" },
        { id: bobWelcome.id, name: "Bob" },
      ],
      complete: true,
      limit: 100,
    });

    expect(ada.send({ type: "say", text: "hi <b>all</b>" })).toBe(true);
    for (const sees of [adaSees, bobSees]) {
      expect(await sees.frame("message")).toMatchObject({
        id: adaWelcome.id,
        name: "Ada",
        text: "hi <b>all</b>",
      });
    }
    bob.send({ type: "whisper", to: adaWelcome.id, text: "psst" });
    expect(await adaSees.frame("whisper")).toMatchObject({ name: "Bob", text: "psst" });
    expect(bobSees.frames.some((f) => f.type === "whisper")).toBe(false);

    ada.close();
    expect(await bobSees.frame("left")).toEqual({
      type: "left",
      id: adaWelcome.id,
      name: "Ada",
      count: 1,
    });
    expect(bob.presence).toMatchObject({ count: 1, peers: [{ name: "Bob" }], complete: true });
    expect(ada.status).toEqual({ state: "closed", code: 1000, reason: "", by: "client" });
    bob.close();
  });

  it("queues sends while reconnecting and delivers them after the new welcome", async () => {
    const room = freshRoom();
    const observer = await join(room, "Obs");
    const { connect, sockets } = workerConnect();
    const ada = new RoomClient({ base: "ws://x", room, name: "Ada", connect, random: () => 0 });
    const sees = watch(ada);
    await sees.frame("welcome");
    expect(await observer.next()).toMatchObject({ type: "joined", name: "Ada" });

    // The connection ends with a code that allows a retry; the server echoes it.
    sockets[0].close(4500, "test drops the connection");
    const reconnecting = await sees.state("reconnecting");
    expect(reconnecting).toMatchObject({ code: 4500, attempt: 1, delayMs: 0 });
    expect(ada.send({ type: "say", text: "sent while away" })).toBe(true);

    await sees.frame("welcome", 1);
    expect(sockets).toHaveLength(2);
    const seen = [await observer.next(), await observer.next(), await observer.next()];
    expect(seen.map((f) => f.type)).toEqual(["left", "joined", "message"]);
    expect(seen[2]).toMatchObject({ name: "Ada", text: "sent while away" });
    expect(ada.queued).toBe(0);
    ada.close();
  });

  it("typing(): the others get a typed typing frame, the typer none", async () => {
    const room = freshRoom();
    const { connect } = workerConnect();
    const ada = new RoomClient({ base: "ws://x", room, name: "Ada", connect });
    const adaSees = watch(ada);
    const adaWelcome = await adaSees.frame("welcome");
    const bob = new RoomClient({ base: "ws://x", room, name: "Bob", connect });
    const bobSees = watch(bob);
    await bobSees.frame("welcome");
    await adaSees.frame("joined");
    expect(ada.typing()).toBe(true);
    expect(ada.typing()).toBe(false); // throttled by the client
    const typing = await bobSees.frame("typing");
    expect(typing).toEqual({ type: "typing", id: adaWelcome.id, name: "Ada" });
    ada.send({ type: "say", text: "done typing" });
    await adaSees.frame("message");
    expect(await bobSees.frame("message")).toMatchObject({ text: "done typing" });
    expect(adaSees.frames.map((f) => f.type)).toEqual(["welcome", "history", "joined", "message"]);
    // A typing is never stored: Bob's history has none (nor does anyone's).
    expect(bobSees.frames.map((f) => f.type)).toEqual(["welcome", "history", "typing", "message"]);
    ada.close();
    bob.close();
  });

  it("keeps alive with the text ping, answered pong by the runtime", async () => {
    const { connect } = workerConnect();
    const ada = new RoomClient({ base: "ws://x", room: freshRoom(), connect, keepaliveMs: 1_000 });
    const sees = watch(ada);
    await sees.frame("welcome");
    await sees.until("a pong", () => (sees.texts.includes("pong") ? true : undefined), 4_000);
    expect(ada.status.state).toBe("open");
    expect(sees.frames.map((f) => f.type)).toEqual(["welcome", "history"]);
    ada.close();
  });
});

/** A WebSocket whose server side the test plays by hand. */
class FakeSocket implements SocketLike {
  readyState = 0;
  readonly sent: string[] = [];
  closedWith: number | undefined;
  private readonly handlers: Record<string, Array<(event: never) => void>> = {};

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: never) => void): void {
    this.handlers[type] ??= [];
    this.handlers[type].push(listener);
  }
  send(data: string): void {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(data);
  }
  close(code?: number): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.closedWith = code;
  }
  acceptOpen(): void {
    this.readyState = 1;
    this.fire("open", {});
  }
  drop(code: number, reason = ""): void {
    this.readyState = 3;
    this.fire("close", { code, reason });
  }
  /** A refused upgrade as Node 22's WebSocket reports it: `error`, no `close`, still CONNECTING. */
  refuse(): void {
    this.fire("error", {});
  }
  deliver(frame: ServerFrame): void {
    this.receive(JSON.stringify(frame));
  }
  receive(data: string): void {
    this.fire("message", { data });
  }
  private fire(type: string, event: object): void {
    for (const handler of this.handlers[type] ?? []) (handler as (e: object) => void)(event);
  }
}

/** Timers run by the test: nothing fires until `runNext`. */
class HandTimers implements Timers {
  private next = 1;
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  setTimeout(fn: () => void, ms: number): number {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Runs the earliest timer; returns its delay. */
  runNext(): number {
    const [id, timer] = [...this.pending].sort((a, b) => a[1].ms - b[1].ms)[0] ?? [];
    if (id === undefined || !timer) throw new Error("no timer pending");
    this.pending.delete(id);
    timer.fn();
    return timer.ms;
  }
}

/**
 * A client on fake sockets and hand-run timers. `refusals` answers attempts in
 * turn: a status refuses the upgrade as a `connect` that sees it does
 * (`UpgradeRefused`), `null` gives a socket; past its end, every attempt gets one.
 */
function fakeClient(options: Partial<RoomClientOptions> = {}, refusals: Array<number | null> = []) {
  const sockets: FakeSocket[] = [];
  const urls: string[] = [];
  const timers = new HandTimers();
  const statuses: Status[] = [];
  const client = new RoomClient({
    ...("base" in options ? {} : { url: "ws://fake/rooms/r/websocket" }),
    connect: (url: string) => {
      urls.push(url);
      const status = refusals.shift() ?? null;
      if (status !== null) return Promise.reject(new UpgradeRefused(status));
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    timers,
    ...options,
  } as RoomClientOptions);
  client.on("status", (status) => statuses.push(status));
  const last = () => sockets[sockets.length - 1];
  return { client, sockets, urls, timers, statuses, last };
}

/** Lets the client see a connect promise settle. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("RoomClient reconnects", () => {
  it("grows the backoff bound by the factor up to the cap, with delays inside it", async () => {
    const draws = [0.999, 0.5, 0.999, 0.25, 0.999, 0.999, 0.999];
    const { timers, last, statuses } = fakeClient({
      backoff: { initialMs: 100, maxMs: 1_000, factor: 2 },
      random: () => draws.shift() ?? 0.999,
    });
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      await settle();
      last().drop(1006);
      delays.push(timers.runNext());
    }
    // bounds 100, 200, 400, 800, 1000 (capped), 1000, 1000
    expect(delays).toEqual([99, 100, 399, 200, 999, 999, 999]);
    const reconnecting = statuses.filter((s) => s.state === "reconnecting");
    expect(reconnecting.map((s) => s.delayMs)).toEqual(delays);
    expect(reconnecting.map((s) => s.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("keeps every jittered delay in [0, bound) and spreads them", async () => {
    const { timers, last } = fakeClient({
      backoff: { initialMs: 1_000, maxMs: 1_000, factor: 2 },
    });
    const delays: number[] = [];
    for (let i = 0; i < 200; i++) {
      await settle();
      last().drop(1001);
      delays.push(timers.runNext());
    }
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(1_000);
    // Full jitter: clients cut off together come back at different times.
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  it("starts the backoff again after a successful open", async () => {
    const { timers, last } = fakeClient({
      backoff: { initialMs: 100, maxMs: 10_000, factor: 10 },
      random: () => 0.999,
    });
    await settle();
    last().drop(1006);
    expect(timers.runNext()).toBe(99);
    await settle();
    last().drop(1006);
    expect(timers.runNext()).toBe(999);
    await settle();
    last().acceptOpen();
    last().drop(1011);
    expect(timers.runNext()).toBe(99);
  });

  it("retries when connecting itself fails", async () => {
    let calls = 0;
    const timers = new HandTimers();
    const client = new RoomClient({
      url: "ws://fake",
      timers,
      random: () => 0,
      connect: () => {
        calls++;
        return Promise.reject(new Error("refused"));
      },
    });
    await settle();
    expect(client.status).toMatchObject({ state: "reconnecting", code: 1006, reason: "refused" });
    timers.runNext();
    await settle();
    expect(calls).toBe(2);
    client.close();
    expect(timers.pending.size).toBe(0);
  });

  for (const code of [1002, 1003, 1007, 1008, 1009, 1010, 4000, 4499]) {
    it(`does not retry after close code ${code}, and says why`, async () => {
      const { client, timers, last, sockets } = fakeClient();
      await settle();
      last().acceptOpen();
      client.send({ type: "say", text: "sent" });
      last().drop(code, "go away");
      expect(client.status).toEqual({ state: "closed", code, reason: "go away", by: "server" });
      expect(client.closed).toEqual({ code, reason: "go away", by: "server" });
      expect(timers.pending.size).toBe(0);
      expect(client.send({ type: "say", text: "refused" })).toBe(false);
      expect(sockets).toHaveLength(1);
    });
  }

  it("retries after 1001, 1006, 1011 and 4500", async () => {
    for (const code of [1001, 1006, 1011, 4500]) {
      const { client, last } = fakeClient();
      await settle();
      last().acceptOpen();
      last().drop(code);
      expect(client.status, String(code)).toMatchObject({ state: "reconnecting", code });
      client.close();
    }
  });
});

describe("RoomClient queue and close", () => {
  it("queues sends until open, then flushes them in order", async () => {
    const { client, last } = fakeClient();
    expect(client.send({ type: "say", text: "one" })).toBe(true);
    expect(client.send({ type: "who" })).toBe(true);
    expect(client.queued).toBe(2);
    await settle();
    last().acceptOpen();
    expect(last().sent).toEqual(['{"type":"say","text":"one"}', '{"type":"who"}']);
    expect(client.send({ type: "ping" })).toBe(true);
    expect(last().sent).toHaveLength(3);
    expect(client.queued).toBe(0);
  });

  it("refuses sends past the queue limit instead of dropping any", async () => {
    const { client, last, timers } = fakeClient({ queueLimit: 3, random: () => 0 });
    await settle();
    last().acceptOpen();
    last().drop(1006);
    const accepted = ["a", "b", "c", "d", "e"].map((text) => client.send({ type: "say", text }));
    expect(accepted).toEqual([true, true, true, false, false]);
    expect(client.queued).toBe(3);
    timers.runNext();
    await settle();
    last().acceptOpen();
    expect(last().sent.map((s) => JSON.parse(s).text)).toEqual(["a", "b", "c"]);
    expect(client.send({ type: "say", text: "f" })).toBe(true);
  });

  it("stops reconnecting on close(), while connected or while waiting to retry", async () => {
    const open = fakeClient();
    await settle();
    open.last().acceptOpen();
    open.client.close(4001, "bye");
    expect(open.last().closedWith).toBe(4001);
    open.last().drop(4001, "bye");
    expect(open.client.status).toEqual({
      state: "closed",
      code: 4001,
      reason: "bye",
      by: "client",
    });
    expect(open.timers.pending.size).toBe(0);

    const waiting = fakeClient();
    await settle();
    waiting.last().drop(1006);
    expect(waiting.timers.pending.size).toBe(1);
    waiting.client.send({ type: "who" });
    waiting.client.close();
    expect(waiting.timers.pending.size).toBe(0);
    expect(waiting.client.queued).toBe(0);
    expect(waiting.client.status).toMatchObject({ state: "closed", code: 1000, by: "client" });
    expect(waiting.sockets).toHaveLength(1);
  });

  it("pings every 30 s by default, inside the server's default idle timeout of 120 s; 0 turns it off", async () => {
    const { last, timers } = fakeClient();
    await settle();
    last().acceptOpen();
    for (const sent of [["ping"], ["ping", "ping"]]) {
      expect(timers.runNext()).toBe(DEFAULT_KEEPALIVE_MS);
      expect(last().sent).toEqual(sent);
      last().receive("pong");
    }
    const off = fakeClient({ keepaliveMs: 0 });
    await settle();
    off.last().acceptOpen();
    expect(off.timers.pending.size).toBe(0);
  });

  it("drops a connection whose keepalive ping gets no pong, then reconnects", async () => {
    const { client, last, timers, sockets } = fakeClient({ random: () => 0 });
    const texts: string[] = [];
    client.on("text", (text) => texts.push(text));
    await settle();
    last().acceptOpen();
    expect(timers.runNext()).toBe(30_000);
    expect(last().sent).toEqual(["ping"]);
    last().receive("pong");
    expect(texts).toEqual(["pong"]);
    timers.runNext();
    expect(last().sent).toEqual(["ping", "ping"]);
    timers.runNext(); // no pong this time
    expect(client.status).toMatchObject({ state: "reconnecting", reason: "keepalive: no pong" });
    expect(sockets[0].closedWith).toBe(1000);
    timers.runNext();
    await settle();
    expect(sockets).toHaveLength(2);
  });

  it("typing() sends at most one per typingIntervalMs, only while open, and never queues", async () => {
    const { client, last, timers } = fakeClient({ typingIntervalMs: 1_000, random: () => 0 });
    expect(client.typing()).toBe(false); // connecting
    expect(client.queued).toBe(0);
    await settle();
    last().acceptOpen();
    expect([client.typing(), client.typing()]).toEqual([true, false]);
    expect(last().sent).toEqual(['{"type":"typing"}']);
    expect(timers.runNext()).toBe(1_000);
    expect(client.typing()).toBe(true);
    expect(last().sent).toHaveLength(2);
    last().drop(1006);
    expect(client.typing()).toBe(false);
    expect(client.queued).toBe(0);
    expect(() => fakeClient({ typingIntervalMs: -1 })).toThrow(RangeError);
  });

  it("delivers server frames to listeners, typed", async () => {
    const { client, last } = fakeClient();
    const frames: ServerFrame[] = [];
    client.on("frame", (frame) => frames.push(frame));
    await settle();
    last().acceptOpen();
    last().deliver({ type: "joined", id: "abc", name: "Bob", count: 2 });
    expect(frames).toEqual([{ type: "joined", id: "abc", name: "Bob", count: 2 }]);
  });
});

describe("RoomClient presence", () => {
  /** A fake client that is open and welcomed into a room of 3 with a presence limit of 2. */
  async function welcomed() {
    const fake = fakeClient();
    const events: Presence[] = [];
    fake.client.on("presence", (presence) => events.push(presence));
    await settle();
    fake.last().acceptOpen();
    fake.last().deliver({
      type: "welcome",
      id: "me",
      room: "r",
      count: 3,
      presence_limit: 2,
      connections: [
        { id: "a", name: "A" },
        { id: "me", name: "Me" },
      ],
    });
    return { ...fake, events };
  }

  const sent = (socket: FakeSocket) => socket.sent.map((text) => JSON.parse(text));

  it("follows welcome, renamed, left, joined and roster, with an event per change", async () => {
    const { client, last, events } = await welcomed();
    expect(client.presence).toEqual({
      self: { id: "me", name: "Me" },
      count: 3,
      peers: [
        { id: "a", name: "A" },
        { id: "me", name: "Me" },
      ],
      complete: false,
      limit: 2,
    });
    last().deliver({ type: "renamed", id: "me", name: "Grace" });
    expect(client.presence?.self).toEqual({ id: "me", name: "Grace" });
    last().deliver({ type: "left", id: "a", name: "A", count: 2 });
    expect(client.presence).toMatchObject({ count: 2, complete: false });
    last().deliver({ type: "joined", id: "b", name: "B", count: 2 });
    expect(client.presence).toMatchObject({
      count: 2,
      peers: [
        { id: "me", name: "Grace" },
        { id: "b", name: "B" },
      ],
      complete: true,
    });
    last().deliver({ type: "pong" });
    last().deliver({ type: "roster", count: 2, connections: [{ id: "b", name: "Bea" }] });
    expect(client.presence?.peers).toEqual([
      { id: "me", name: "Grace" },
      { id: "b", name: "Bea" },
    ]);
    expect(events.map((p) => [p.count, p.peers.length, p.complete])).toEqual([
      [3, 2, false],
      [3, 2, false],
      [2, 1, false],
      [2, 2, true],
      [2, 2, true],
    ]);
  });

  it("loadPresence pages through who, following next", async () => {
    const { client, last } = await welcomed();
    const loading = client.loadPresence();
    expect(client.loadPresence()).toBe(loading);
    expect(sent(last())).toEqual([{ type: "who" }]);
    last().deliver({
      type: "roster",
      count: 3,
      connections: [
        { id: "a", name: "A" },
        { id: "me", name: "Me" },
      ],
      next: "1.me",
    });
    expect(sent(last()).at(-1)).toEqual({ type: "who", after: "1.me" });
    // Until the last page, presence is what the welcome said.
    expect(client.presence?.peers).toHaveLength(2);
    last().deliver({ type: "roster", count: 3, connections: [{ id: "c", name: "C" }] });
    expect(await loading).toEqual({
      self: { id: "me", name: "Me" },
      count: 3,
      peers: [
        { id: "a", name: "A" },
        { id: "me", name: "Me" },
        { id: "c", name: "C" },
      ],
      complete: true,
      limit: 2,
    });
    expect(sent(last())).toHaveLength(2);
  });

  it("loadPresence rejects before a welcome, when the connection drops, on rate_limited and on unknown_cursor", async () => {
    const fresh = fakeClient();
    await expect(fresh.client.loadPresence()).rejects.toThrow(/not connected/);
    const { client, last } = await welcomed();
    const dropped = client.loadPresence();
    last().drop(1006);
    await expect(dropped).rejects.toThrow(/reconnecting/);
    const again = await welcomed();
    const limited = again.client.loadPresence();
    again.last().deliver({ type: "error", code: "rate_limited", message: "slow down" });
    await expect(limited).rejects.toThrow(/rate_limited/);
    const refused = again.client.loadPresence();
    again.last().deliver({ type: "error", code: "unknown_cursor", message: "not a cursor" });
    await expect(refused).rejects.toThrow(/unknown_cursor/);
  });
});

describe("RoomClient tokens", () => {
  it("calls the token provider before every attempt and sends its token as ?token= after the name", async () => {
    const requests: TokenRequest[] = [];
    const { urls, last, timers } = fakeClient({
      base: "ws://fake/",
      room: "r",
      name: "Ada L",
      token: (request) => {
        requests.push(request);
        return `t${requests.length}+/=`;
      },
      random: () => 0,
    } as Partial<RoomClientOptions>);
    for (let i = 0; i < 2; i++) {
      await settle();
      last().drop(1006);
      timers.runNext();
    }
    await settle();
    expect(urls).toEqual(
      [1, 2, 3].map((n) => `ws://fake/rooms/r/websocket?name=Ada%20L&token=t${n}%2B%2F%3D`),
    );
    expect(requests).toEqual([
      { attempt: 1, rejected: false },
      { attempt: 2, rejected: false },
      { attempt: 3, rejected: false },
    ]);
  });

  it("replaces a ?token= already in the url and keeps the rest of its query as it was", async () => {
    const { urls } = fakeClient({ url: "ws://fake/r?a=1&token=old&b=x%20y", token: "new" });
    await settle();
    expect(urls).toEqual(["ws://fake/r?a=1&b=x%20y&token=new"]);
  });

  it("waits for an async provider; close() while it is pending opens nothing", async () => {
    let give: (token: string) => void = () => {};
    const provider = () => new Promise<string>((resolve) => (give = resolve));
    const waiting = fakeClient({ token: provider });
    await settle();
    expect(waiting.urls).toEqual([]);
    expect(waiting.client.status).toEqual({ state: "connecting", attempt: 1 });
    give("late");
    await settle();
    expect(waiting.urls).toEqual(["ws://fake/rooms/r/websocket?token=late"]);

    const closing = fakeClient({ token: provider });
    await settle();
    closing.client.close();
    give("too late");
    await settle();
    expect(closing.urls).toEqual([]);
    expect(closing.timers.pending.size).toBe(0);
  });

  it("1008 token expired with a provider: a fresh token at once, then backoff while tokens are refused, and at once again after an open", async () => {
    const requests: TokenRequest[] = [];
    const { client, last, timers, statuses } = fakeClient(
      {
        token: async (request) => {
          requests.push(request);
          return `t${requests.length}`;
        },
        random: () => 0.999,
        backoff: { initialMs: 1_000, maxMs: 60_000, factor: 2 },
      },
      [null, 401, 401, null],
    );
    await settle();
    last().acceptOpen();
    last().drop(1008, "token expired");
    expect(client.status).toEqual({
      state: "reconnecting",
      delayMs: 0,
      attempt: 1,
      code: 1008,
      reason: "token expired",
    });
    expect(timers.runNext()).toBe(0);
    await settle();
    // The fresh token is refused too: from here on, the usual backoff.
    expect(client.status).toMatchObject({ state: "reconnecting", status: 401, delayMs: 1_998 });
    expect(timers.runNext()).toBe(1_998);
    await settle();
    expect(client.status).toMatchObject({ state: "reconnecting", status: 401, delayMs: 3_996 });
    timers.runNext();
    await settle();
    last().acceptOpen();
    expect(client.status.state).toBe("open");
    expect(requests).toEqual([
      { attempt: 1, rejected: false },
      { attempt: 2, rejected: true },
      { attempt: 3, rejected: true },
      { attempt: 4, rejected: true },
    ]);
    // A later expiry gets its own immediate retry.
    last().drop(1008, "token expired at 1764300000");
    expect(client.status).toMatchObject({ state: "reconnecting", delayMs: 0, code: 1008 });
    expect(statuses.filter((s) => s.state === "closed")).toEqual([]);
  });

  for (const token of ["fixed", undefined]) {
    it(`1008 token expired with ${token ? "a fixed token" : "no token option"}: closed with the reason, no retry`, async () => {
      const { client, last, timers } = fakeClient({ token });
      await settle();
      last().acceptOpen();
      last().drop(1008, "token expired");
      expect(client.status).toEqual({
        state: "closed",
        code: 1008,
        reason: "token expired",
        by: "server",
      });
      expect(timers.pending.size).toBe(0);
    });

    it(`401 on upgrade with ${token ? "a fixed token" : "no token option"}: closed with the status, no retry`, async () => {
      const { client, timers, urls } = fakeClient({ token }, [401]);
      await settle();
      expect(client.status).toEqual({
        state: "closed",
        code: 1006,
        reason: "upgrade refused: 401",
        by: "server",
        status: 401,
      });
      expect(client.closed).toMatchObject({ status: 401 });
      expect(timers.pending.size).toBe(0);
      expect(urls).toHaveLength(1);
    });
  }

  it("401 with a provider: a fresh token at once; the provider hears it was rejected", async () => {
    const requests: TokenRequest[] = [];
    const { client, timers, last } = fakeClient(
      {
        token: (request) => {
          requests.push(request);
          return "t";
        },
      },
      [401],
    );
    await settle();
    expect(client.status).toMatchObject({ state: "reconnecting", delayMs: 0, status: 401 });
    timers.runNext();
    await settle();
    last().acceptOpen();
    expect(requests).toEqual([
      { attempt: 1, rejected: false },
      { attempt: 2, rejected: true },
    ]);
  });

  it("a provider that throws is a failed attempt: backoff, asked again, still told the last token was rejected", async () => {
    const requests: TokenRequest[] = [];
    const { client, timers } = fakeClient(
      {
        token: (request) => {
          requests.push(request);
          if (requests.length === 2) throw new Error("login endpoint down");
          return "t";
        },
        random: () => 0.5,
      },
      [401],
    );
    await settle();
    timers.runNext();
    await settle();
    expect(client.status).toMatchObject({
      state: "reconnecting",
      code: 1006,
      reason: "token: login endpoint down",
      delayMs: 500,
    });
    timers.runNext();
    await settle();
    expect(requests.map((r) => r.rejected)).toEqual([false, true, true]);
  });
});

describe("RoomClient refused upgrades and connect timeout", () => {
  it("an upgrade refused with error and no close (Node 22's WebSocket) backs off and retries", async () => {
    const { client, timers, sockets, statuses } = fakeClient({ random: () => 0 });
    await settle();
    sockets[0].refuse();
    expect(client.status).toEqual({
      state: "reconnecting",
      delayMs: 0,
      attempt: 1,
      code: 1006,
      reason: "upgrade failed (refused or unreachable)",
    });
    expect(sockets[0].closedWith).toBe(1000);
    // Only the retry is pending: the connect timeout of the failed attempt is gone.
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([0]);
    // A close that does follow (as in browsers) changes nothing.
    sockets[0].drop(1006);
    expect(statuses.filter((s) => s.state === "reconnecting")).toHaveLength(1);
    timers.runNext();
    await settle();
    expect(sockets).toHaveLength(2);
    sockets[1].acceptOpen();
    expect(client.status.state).toBe("open");
  });

  it("refusals: 403 and other 4xx end closed; 503 (room_full), 429, 408 and 500 back off", async () => {
    for (const status of [400, 403, 404, 426]) {
      const { client } = fakeClient({}, [status]);
      await settle();
      expect(client.status, String(status)).toMatchObject({
        state: "closed",
        by: "server",
        status,
      });
    }
    for (const status of [503, 429, 408, 500]) {
      const { client, timers } = fakeClient({ random: () => 0.5 }, [status]);
      await settle();
      expect(client.status, String(status)).toMatchObject({
        state: "reconnecting",
        status,
        delayMs: 250,
      });
      timers.runNext();
      client.close();
    }
  });

  it("an attempt not open within connectTimeoutMs (default 10 s) is abandoned and retried", async () => {
    const defaults = fakeClient();
    await settle();
    expect([...defaults.timers.pending.values()].map((t) => t.ms)).toEqual([10_000]);
    defaults.last().acceptOpen();
    // Only the keepalive is left (on by default).
    expect([...defaults.timers.pending.values()].map((t) => t.ms)).toEqual([30_000]);

    const { client, timers, sockets } = fakeClient({ connectTimeoutMs: 5_000, random: () => 0 });
    await settle();
    expect(timers.runNext()).toBe(5_000);
    expect(client.status).toMatchObject({
      state: "reconnecting",
      code: 1006,
      reason: "connect timeout: not open after 5000 ms",
    });
    expect(sockets[0].closedWith).toBe(1000);
    // The abandoned socket opening late is not adopted.
    sockets[0].acceptOpen();
    expect(client.status.state).toBe("reconnecting");
    timers.runNext();
    await settle();
    expect(sockets).toHaveLength(2);
  });

  it("the connect timeout covers a token provider that never answers, and a connect promise that settles late", async () => {
    const hung = fakeClient({ token: () => new Promise<string>(() => {}), random: () => 0 });
    await settle();
    expect(hung.timers.runNext()).toBe(10_000);
    expect(hung.client.status).toMatchObject({
      state: "reconnecting",
      reason: expect.stringMatching(/^connect timeout/),
    });

    let resolve: (socket: FakeSocket) => void = () => {};
    const timers = new HandTimers();
    const client = new RoomClient({
      url: "ws://fake",
      timers,
      random: () => 0,
      connect: () => new Promise<FakeSocket>((r) => (resolve = r)),
    });
    await settle();
    timers.runNext();
    expect(client.status.state).toBe("reconnecting");
    const late = new FakeSocket("ws://fake");
    late.acceptOpen();
    resolve(late);
    await settle();
    expect(late.closedWith).toBe(1000);
    expect(client.status.state).toBe("reconnecting");
  });

  it("refuses a connect timeout that is not a positive number", () => {
    for (const connectTimeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => fakeClient({ connectTimeoutMs }), String(connectTimeoutMs)).toThrow(RangeError);
    }
  });
});

describe("RoomClient history", () => {
  /** Records a client's `message` and `history` events. */
  function record(client: RoomClient) {
    const messages: Message[] = [];
    const histories: HistoryEvent[] = [];
    client.on("message", (message) => messages.push(message));
    client.on("history", (history) => histories.push(history));
    return { messages, histories };
  }

  it("resumes after a drop: each message said meanwhile arrives once, in order, and recovered", async () => {
    const room = freshRoom();
    const bob = await join(room, "Bob");
    const timers = new HandTimers();
    const { connect, sockets } = workerConnect();
    const urls: string[] = [];
    const ada = new RoomClient({
      base: "ws://x",
      room,
      name: "Ada",
      random: () => 0,
      timers,
      connect: (url) => {
        urls.push(url);
        return connect(url);
      },
    });
    const sees = watch(ada);
    const got = record(ada);
    const welcome = await sees.frame("welcome");
    await sees.frame("history");
    expect(ada.recovered).toBeNull();
    expect(await bob.next()).toMatchObject({ type: "joined", name: "Ada" });
    bob.send({ type: "say", text: "before" });
    expect(await bob.next()).toMatchObject({ type: "message", seq: 1 });
    await sees.frame("message");

    sockets[0].close(4500, "the network goes");
    await sees.state("reconnecting");
    expect(await bob.next()).toMatchObject({ type: "left", name: "Ada" });
    for (const text of ["m1", "m2", "m3"]) {
      bob.send({ type: "say", text });
      expect(await bob.next()).toMatchObject({ type: "message", text });
    }
    timers.runNext();
    // Its messages are delivered in the same turn as the history frame.
    await sees.frame("history", 1);

    expect(urls[1]).toMatch(new RegExp(`[?&]since=1&epoch=${welcome.epoch}$`));
    expect(got.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, "before"],
      [2, "m1"],
      [3, "m2"],
      [4, "m3"],
    ]);
    expect(got.histories).toEqual([
      { resumed: false, recovered: false, missed: 0 },
      { resumed: true, recovered: true, missed: 3 },
    ]);
    expect(ada.recovered).toBe(true);
    ada.close();
  });

  /** Frames of a room whose history is named `epoch`. */
  const message = (seq: number): Message => ({
    type: "message",
    id: "someone1",
    name: "S",
    text: `m${seq}`,
    ts: seq,
    seq,
  });
  const welcome = (epoch: string, seq: number): ServerFrame => ({
    type: "welcome",
    id: "me123456",
    room: "r",
    count: 1,
    presence_limit: 100,
    connections: [{ id: "me123456", name: "Me" }],
    epoch,
    seq,
  });
  const history = (recovered: boolean, seqs: number[]): ServerFrame => ({
    type: "history",
    recovered,
    messages: seqs.map(message),
  });

  it("drops a message it already delivered, starts over under a new epoch and says so", async () => {
    const { client, last, timers, urls } = fakeClient({ random: () => 0 });
    const got = record(client);
    const reconnect = async () => {
      last().drop(1006);
      timers.runNext();
      await settle();
      last().acceptOpen();
    };
    await settle();
    last().acceptOpen();
    last().deliver(welcome("E", 2));
    last().deliver(history(false, [1, 2]));
    last().deliver(message(3));
    last().deliver(message(3));
    expect(got.messages.map((m) => m.seq)).toEqual([1, 2, 3]);

    // A history that repeats what was delivered: only the new ones.
    await reconnect();
    expect(urls[1]).toBe("ws://fake/rooms/r/websocket?since=3&epoch=E");
    last().deliver(welcome("E", 5));
    last().deliver(history(true, [2, 3, 4, 5]));
    expect(got.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(got.histories[1]).toEqual({ resumed: true, recovered: true, missed: 2 });
    expect(client.recovered).toBe(true);

    // The room's history was reset: its seqs start again, the gap is told.
    await reconnect();
    expect(urls[2]).toBe("ws://fake/rooms/r/websocket?since=5&epoch=E");
    last().deliver(welcome("F", 1));
    last().deliver(history(false, [1]));
    expect(got.histories[2]).toEqual({ resumed: true, recovered: false, missed: 1 });
    expect(client.recovered).toBe(false);
    expect(got.messages.map((m) => m.text)).toEqual(["m1", "m2", "m3", "m4", "m5", "m1"]);

    // Joined where the room was at 9 with nothing replayed: it resumes from 9.
    await reconnect();
    last().deliver(welcome("G", 9));
    last().deliver(history(false, []));
    await reconnect();
    expect(urls[4]).toBe("ws://fake/rooms/r/websocket?since=9&epoch=G");
    client.close();
  });
});
