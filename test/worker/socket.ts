// A WebSocket client for tests in the Workers runtime: connect through the
// Worker (or straight to a Durable Object) and await frames with a timeout.
import { env, exports } from "cloudflare:workers";
import { type Connect, fetchConnect } from "../../js/client";
import { type Client as SharedClient, track } from "../shared/client";

export type Client = SharedClient<WebSocket>;

/** Opens a socket through the Worker's fetch handler. */
export async function connectWorker(path: string, init: RequestInit = {}): Promise<Client> {
  const response = await exports.default.fetch(`http://example.com${path}`, {
    ...init,
    headers: { Upgrade: "websocket", ...(init.headers ?? {}) },
  });
  return open(response);
}

/** Opens a `/websocket` socket on the Durable Object class under a name of the test's own. */
export async function connectObject(name: string): Promise<Client> {
  const response = await env.WEBSOCKET_HIBERNATION_SERVER.getByName(name).fetch(
    "http://example.com/websocket",
    { headers: { Upgrade: "websocket" } },
  );
  return open(response);
}

/**
 * A `Connect` for `RoomClient` that opens sockets through the Worker, as
 * `fetch` with Upgrade does in workerd (`fetchConnect`: a refusal rejects with
 * its status); `sockets` keeps each one it opened.
 */
export function workerConnect(): { connect: Connect; sockets: WebSocket[] } {
  const sockets: WebSocket[] = [];
  const viaWorker = fetchConnect((url, init) => exports.default.fetch(url, init));
  const connect: Connect = async (url) => {
    const ws = await viaWorker(url);
    sockets.push(ws);
    return ws;
  };
  return { connect, sockets };
}

/** A Durable Object name no other test uses. */
export function freshName(): string {
  return `room-${crypto.randomUUID()}`;
}

function open(response: Response): Client {
  const ws = response.webSocket;
  if (response.status !== 101 || !ws) {
    throw new Error(`expected 101 with a WebSocket, got ${response.status}`);
  }
  ws.accept();
  return track(ws);
}
