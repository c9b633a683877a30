// RoomClient's `token` option against a server with AUTH_SECRET set
// (test/configured/vars.ts): a refused token (401, seen by fetchConnect) or
// one that expires while connected (close 1008 "token expired") is replaced
// by a fresh one from the provider, a fixed token that is refused ends the
// client, and every reconnect asks the provider again.
import { describe, expect, it, vi } from "vitest";
import { RoomClient, type Status, type TokenRequest } from "../../js/client";
import { withTimeout } from "../shared/client";
import { freshRoom } from "../worker/room";
import { workerConnect } from "../worker/socket";
import { claims, mint } from "./token";

/** Resolves with the first status that `match` accepts, past or future. */
function statusOf(client: RoomClient) {
  const seen: Status[] = [client.status];
  const waiters: Array<() => void> = [];
  client.on("status", (status) => {
    seen.push(status);
    for (const waiter of waiters.splice(0)) waiter();
  });
  return {
    seen,
    until: (what: string, match: (status: Status) => boolean, skip = 0) =>
      withTimeout(
        new Promise<Status>((resolve) => {
          const check = () => {
            const found = seen.filter(match)[skip];
            if (found) resolve(found);
            else waiters.push(check);
          };
          check();
        }),
        5_000,
        what,
      ),
  };
}

describe("RoomClient tokens against a server with AUTH_SECRET", () => {
  it("a 401 for an expired token is followed at once by an attempt with a fresh token from the provider", async () => {
    const room = freshRoom();
    const requests: TokenRequest[] = [];
    const { connect, sockets } = workerConnect();
    const client = new RoomClient({
      base: "ws://example.com",
      room,
      connect,
      token: async (request) => {
        requests.push(request);
        const exp = requests.length === 1 ? 1 : Math.floor(Date.now() / 1000) + 60;
        return mint({ ...claims("Ada", room), exp });
      },
    });
    const statuses = statusOf(client);
    const welcome = new Promise((resolve) => {
      const stop = client.on("frame", (frame) => {
        if (frame.type === "welcome") {
          stop();
          resolve(frame);
        }
      });
    });
    await statuses.until("open", (s) => s.state === "open");
    expect(statuses.seen.find((s) => s.state === "reconnecting")).toEqual({
      state: "reconnecting",
      delayMs: 0,
      attempt: 1,
      code: 1006,
      reason: "upgrade refused: 401 unauthorized (expired)",
      status: 401,
    });
    expect(requests).toEqual([
      { attempt: 1, rejected: false },
      { attempt: 2, rejected: true },
    ]);
    expect(await withTimeout(welcome, 5_000, "the welcome")).toMatchObject({
      count: 1,
      connections: [{ name: "Ada" }],
    });

    // The server drops the connection: the reconnect asks the provider again.
    sockets[0].close(4500, "test drops the connection");
    await statuses.until("open again", (s) => s.state === "open", 1);
    expect(requests).toHaveLength(3);
    expect(requests[2]).toEqual({ attempt: 2, rejected: false });
    client.close();
  });

  it("a fixed token refused with 401 ends the client closed with the status and the server's reason", async () => {
    const room = freshRoom();
    const { connect, sockets } = workerConnect();
    const client = new RoomClient({
      base: "ws://example.com",
      room,
      connect,
      token: await mint(claims("Ada", `other-${room}`)),
    });
    const closed = await statusOf(client).until("closed", (s) => s.state === "closed");
    expect(closed).toEqual({
      state: "closed",
      code: 1006,
      reason: "upgrade refused: 401 unauthorized (wrong_room)",
      by: "server",
      status: 401,
    });
    expect(sockets).toHaveLength(0);
  });

  it("a socket whose token expires is closed 1008 'token expired' at its next frame: at once a fresh token from the provider and a new welcome", async () => {
    const room = freshRoom();
    const requests: TokenRequest[] = [];
    let exp = 0;
    const { connect } = workerConnect();
    const client = new RoomClient({
      base: "ws://example.com",
      room,
      connect,
      token: async (request) => {
        requests.push(request);
        // The first token expires in 2 seconds, the next in an hour.
        exp = Math.floor(Date.now() / 1000) + (requests.length === 1 ? 2 : 3600);
        return mint({ ...claims("Ada", room), exp });
      },
    });
    const welcomes: string[] = [];
    client.on("frame", (frame) => {
      if (frame.type === "welcome") welcomes.push(frame.id);
    });
    const statuses = statusOf(client);
    await statuses.until("open", (s) => s.state === "open");
    const firstExp = exp;
    // A bounded wait for the expiry itself.
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThanOrEqual(firstExp * 1000), {
      timeout: 4_000,
      interval: 100,
    });
    client.send({ type: "ping" });
    expect(await statuses.until("reconnecting", (s) => s.state === "reconnecting")).toEqual({
      state: "reconnecting",
      delayMs: 0,
      attempt: 1,
      code: 1008,
      reason: `token expired at ${firstExp} (Unix seconds): reconnect with a fresh token`,
    });
    await statuses.until("open again", (s) => s.state === "open", 1);
    expect(requests).toEqual([
      { attempt: 1, rejected: false },
      { attempt: 2, rejected: true },
    ]);
    await vi.waitFor(() => expect(welcomes).toHaveLength(2));
    expect(welcomes[1]).not.toBe(welcomes[0]);
    client.close();
  });
});
