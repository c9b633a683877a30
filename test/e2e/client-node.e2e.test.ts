// RoomClient on Node's own WebSocket (Node 22), against a local node:http
// server that refuses every upgrade with 401 or never answers one. Node fires
// `error` and never `close` for a refused upgrade and keeps readyState 0: the
// client must still back off and retry, and an upgrade that hangs must time
// out. No wrangler here: the server is this file's.
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RoomClient, type Status, type TokenRequest } from "../../js/client";
import { withTimeout } from "../shared/client";

const servers: Server[] = [];
const held: Socket[] = [];

afterEach(async () => {
  for (const socket of held.splice(0)) socket.destroy();
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

/** A server on 127.0.0.1 whose upgrades `onUpgrade` answers; resolves with its ws:// base. */
async function serve(onUpgrade: (socket: Socket, url: string) => void): Promise<string> {
  const server = createServer((_, response) => response.writeHead(404).end());
  server.on("upgrade", (request, socket: Socket) => onUpgrade(socket, request.url ?? ""));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return `ws://127.0.0.1:${address.port}`;
}

/** The `skip`-th status of `client` that `match` accepts, or a failure after 5 s. */
function nextStatus(client: RoomClient, match: (s: Status) => boolean, what: string) {
  return withTimeout(
    new Promise<Status>((resolve) => {
      const stop = client.on("status", (status) => {
        if (match(status)) {
          stop();
          resolve(status);
        }
      });
    }),
    5_000,
    what,
  );
}

describe("RoomClient on Node's WebSocket", () => {
  it("an upgrade refused with 401 (error, no close) is retried with a fresh token, never stuck connecting", async () => {
    const urls: string[] = [];
    const base = await serve((socket, url) => {
      urls.push(url);
      socket.end(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
      );
    });
    const requests: TokenRequest[] = [];
    const client = new RoomClient({
      base,
      room: "lobby",
      token: async (request) => {
        requests.push(request);
        return `t${requests.length}`;
      },
      random: () => 0,
      autoOpen: false,
    });
    const refused = nextStatus(client, (s) => s.state === "reconnecting", "reconnecting");
    const second = nextStatus(
      client,
      (s) => s.state === "reconnecting" && s.attempt === 2,
      "a second reconnecting",
    );
    client.open();
    expect(await refused).toEqual({
      state: "reconnecting",
      delayMs: 0,
      attempt: 1,
      code: 1006,
      reason: "upgrade failed (refused or unreachable)",
    });
    await second;
    client.close();
    // The WebSocket hides the 401: the provider is asked before every attempt,
    // but cannot be told its token was the cause.
    expect(urls.slice(0, 2)).toEqual([
      "/rooms/lobby/websocket?token=t1",
      "/rooms/lobby/websocket?token=t2",
    ]);
    expect(requests.slice(0, 2)).toEqual([
      { attempt: 1, rejected: false },
      { attempt: 2, rejected: false },
    ]);
  });

  it("an upgrade the server never answers times out after connectTimeoutMs and is retried", async () => {
    let upgrades = 0;
    const base = await serve((socket) => {
      upgrades++;
      held.push(socket);
    });
    const client = new RoomClient({
      url: `${base}/rooms/lobby/websocket`,
      connectTimeoutMs: 300,
      random: () => 0,
      autoOpen: false,
    });
    const timedOut = nextStatus(client, (s) => s.state === "reconnecting", "reconnecting");
    const again = nextStatus(
      client,
      (s) => s.state === "connecting" && s.attempt === 2,
      "a second attempt",
    );
    client.open();
    expect(await timedOut).toMatchObject({
      code: 1006,
      reason: "connect timeout: not open after 300 ms",
    });
    await again;
    client.close();
    expect(upgrades).toBeGreaterThanOrEqual(1);
  });
});
