// HISTORY_LIMIT=0 (this project's only variable): rooms keep no history. No
// SQL runs for it, so the object's storage holds no history table; messages
// carry no seq, welcomes no epoch, and no `history` frame follows a welcome,
// even to a client that asks to resume.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type Message, RoomClient } from "../../js/client";
import { withTimeout } from "../shared/client";
import { evict, freshRoom, joinAll, joinAt, stats } from "../worker/room";
import { workerConnect } from "../worker/socket";

describe("HISTORY_LIMIT=0", () => {
  it("writes nothing: no history table, no seq, no epoch, no history frame, across an eviction", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    expect(ada.welcome.epoch).toBeUndefined();
    expect(ada.welcome.seq).toBeUndefined();
    ada.send({ type: "say", text: "not kept" });
    for (const member of [ada, bob]) {
      expect(await member.next()).toEqual({
        type: "message",
        id: ada.id,
        name: "Ada",
        text: "not kept",
        ts: expect.any(Number),
      });
    }
    await evict(room);
    bob.send({ type: "say", text: "after a wake" });
    expect(await bob.next()).not.toHaveProperty("seq");
    // A client that asks to resume anyway gets the welcome and nothing more.
    const cy = await joinAt(`/rooms/${room}/websocket?name=Cy&since=1&epoch=abc`);
    expect(cy.welcome.epoch).toBeUndefined();
    cy.send({ type: "ping" });
    expect(await cy.next()).toEqual({ type: "pong" });

    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    const tables = await runInDurableObject(stub, (_, state) =>
      state.storage.sql
        .exec("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray()
        .map((row) => String(row.name)),
    );
    expect(tables.filter((name) => name.startsWith("history"))).toEqual([]);
    expect((await stats(room)).history_rows_written).toBe(0);
  });

  it("RoomClient delivers live messages and never asks to resume", async () => {
    const room = freshRoom();
    const { connect, sockets } = workerConnect();
    const urls: string[] = [];
    const ada = new RoomClient({
      base: "ws://x",
      room,
      name: "Ada",
      random: () => 0,
      connect: (url) => {
        urls.push(url);
        return connect(url);
      },
    });
    const messages: Message[] = [];
    let wake = () => {};
    ada.on("message", (message) => {
      messages.push(message);
      wake();
    });
    let reconnecting = () => {};
    ada.on("status", (status) => {
      if (status.state === "reconnecting") reconnecting();
    });
    const until = (n: number) =>
      withTimeout(
        new Promise<void>((resolve) => {
          wake = () => messages.length >= n && resolve();
          wake();
        }),
        5_000,
        `${n} messages`,
      );
    ada.send({ type: "say", text: "one" });
    await until(1);
    const dropped = new Promise<void>((resolve) => {
      reconnecting = resolve;
    });
    sockets[0].close(4500, "test drops it");
    await withTimeout(dropped, 5_000, "reconnecting");
    ada.send({ type: "say", text: "two" });
    await until(2);
    expect(messages.map((m) => m.text)).toEqual(["one", "two"]);
    expect(urls).toHaveLength(2);
    expect(urls[1]).not.toMatch(/since=|epoch=/);
    expect(ada.recovered).toBeNull();
    ada.close();
  });
});
