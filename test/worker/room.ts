// Helpers for room tests: join a room through the Worker and read JSON frames.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import type { Attachment, ClientFrame, Peer, ServerFrame, Stats } from "../../pkg/core.js";
import { type Client, connectWorker, freshName } from "./socket";

export type History = Extract<ServerFrame, { type: "history" }>;

export interface Member {
  client: Client;
  id: string;
  name: string;
  welcome: Extract<ServerFrame, { type: "welcome" }>;
  /** The `history` frame that follows the welcome when the room keeps history. */
  history?: History;
  /** The next frame, parsed. */
  next(ms?: number): Promise<ServerFrame>;
  send(frame: ClientFrame): void;
}

/** A room name no other test uses. */
export const freshRoom = freshName;

/** Connects to `room` with `?name=` and reads its welcome. */
export async function join(room: string, name?: string): Promise<Member> {
  const query = name === undefined ? "" : `?name=${encodeURIComponent(name)}`;
  return joinAt(`/rooms/${room}/websocket${query}`);
}

/**
 * Connects to a room's socket path (with its query) and reads the welcome,
 * and the `history` frame that follows it when the welcome names an epoch.
 */
export async function joinAt(path: string, init: RequestInit = {}): Promise<Member> {
  const client = await connectWorker(path, init);
  const next = async (ms?: number) => JSON.parse(await client.next(ms)) as ServerFrame;
  const welcome = await next();
  if (welcome.type !== "welcome")
    throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
  let history: History | undefined;
  if (welcome.epoch !== undefined) {
    const frame = await next();
    if (frame.type !== "history") throw new Error(`expected history, got ${JSON.stringify(frame)}`);
    history = frame;
  }
  const self = welcome.connections.find((peer) => peer.id === welcome.id);
  return {
    client,
    id: welcome.id,
    name: self?.name ?? "",
    welcome,
    history,
    next,
    send: (frame) => client.send(JSON.stringify(frame)),
  };
}

/** Joins `names` in order; each earlier member's `joined` frames are consumed. */
export async function joinAll(room: string, names: string[]): Promise<Member[]> {
  const members: Member[] = [];
  for (const name of names) {
    const member = await join(room, name);
    for (const earlier of members) {
      const frame = await earlier.next();
      if (frame.type !== "joined") throw new Error(`expected joined, got ${JSON.stringify(frame)}`);
    }
    members.push(member);
  }
  return members;
}

/** The stub of the room's object. */
export function roomStub(room: string): DurableObjectStub {
  return env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
}

/**
 * Every frame `member` receives until none comes for `quietMs`: for answers
 * whose number a test cannot know (a rate limit drops frames silently).
 */
export async function drain(member: Member, quietMs = 300): Promise<ServerFrame[]> {
  const frames: ServerFrame[] = [];
  for (;;) {
    try {
      frames.push(await member.next(quietMs));
    } catch {
      return frames;
    }
  }
}

/** Evicts the room's object; its hibernatable sockets stay open. */
export function evict(room: string): Promise<void> {
  return evictDurableObject(roomStub(room));
}

/** The alarm the room's object holds (ms since the epoch), or null. */
export function alarmOf(room: string): Promise<number | null> {
  return runInDurableObject(roomStub(room), (_, state) => state.storage.getAlarm());
}

/**
 * Makes `members` silent for `ms` more, without waiting: every time their
 * sockets store (the join, and the bucket's last refill, which records the
 * last frame) moves back by `ms`, then the object is evicted so that the
 * room is rebuilt from them, as after any wake. (The runtime's time of its
 * last `pong` cannot be moved: a member that pings has just pinged.)
 */
export async function age(room: string, members: Member[], ms: number): Promise<void> {
  await runInDurableObject(roomStub(room), (_, state) => {
    for (const { id } of members) {
      for (const ws of state.getWebSockets(id)) {
        const stored = ws.deserializeAttachment() as Attachment;
        ws.serializeAttachment({
          ...stored,
          joined_at: stored.joined_at - ms,
          bucket: { ...stored.bucket, updated_at: stored.bucket.updated_at - ms },
        });
      }
    }
  });
  await evict(room);
}

/** The room's stats; `query` (e.g. `?token=…`) as a server with `AUTH_SECRET` needs. */
export async function stats(room: string, query = ""): Promise<Stats> {
  const response = await exports.default.fetch(`http://example.com/rooms/${room}${query}`);
  if (response.status !== 200)
    throw new Error(`stats: ${response.status} ${await response.text()}`);
  return response.json();
}

/**
 * Asks `who` as `asker` and expects the whole room on one page, in join
 * order: exactly `peers` (ids and names), and a `count` of as many.
 */
export async function expectRoster(asker: Member, peers: Peer[]): Promise<void> {
  asker.send({ type: "who" });
  expect(await asker.next()).toEqual({ type: "roster", count: peers.length, connections: peers });
}
