// Helpers for room tests: join a room through the Worker and read JSON frames.
import { evictDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import type { ClientFrame, Peer, ServerFrame, Stats } from "../../pkg/core.js";
import { type Client, connectWorker, freshName } from "./socket";

export interface Member {
  client: Client;
  id: string;
  name: string;
  welcome: Extract<ServerFrame, { type: "welcome" }>;
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

/** Connects to a room's socket path (with its query) and reads the welcome. */
export async function joinAt(path: string, init: RequestInit = {}): Promise<Member> {
  const client = await connectWorker(path, init);
  const next = async (ms?: number) => JSON.parse(await client.next(ms)) as ServerFrame;
  const welcome = await next();
  if (welcome.type !== "welcome")
    throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
  const self = welcome.connections.find((peer) => peer.id === welcome.id);
  return {
    client,
    id: welcome.id,
    name: self?.name ?? "",
    welcome,
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
  return evictDurableObject(env.WEBSOCKET_HIBERNATION_SERVER.getByName(room));
}

export async function stats(room: string): Promise<Stats> {
  const response = await exports.default.fetch(`http://example.com/rooms/${room}`);
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
