// Every frame type of the room protocol, warm and after the object was
// evicted (its sockets hibernating), so nothing the protocol needs lives only
// in memory.
import { describe, expect, it } from "vitest";
import { evict, expectRoster, freshRoom, join, joinAll } from "./room";

for (const mode of ["warm", "after eviction"] as const) {
  describe(`room protocol (${mode})`, () => {
    /** Joins `names` into a fresh room, then evicts it when the mode says so. */
    async function setup(names: string[]) {
      const room = freshRoom();
      const members = await joinAll(room, names);
      if (mode === "after eviction") await evict(room);
      return { room, members };
    }

    it("welcomes a newcomer with the roster and tells the others", async () => {
      const { room, members } = await setup(["Ada", "Bob"]);
      const [ada, bob] = members;
      const cy = await join(room, "Cy");
      expect(cy.welcome.room).toBe(room);
      expect(cy.welcome).toMatchObject({ count: 3, presence_limit: 100 });
      expect(cy.welcome.connections).toEqual([
        { id: ada.id, name: "Ada" },
        { id: bob.id, name: "Bob" },
        { id: cy.id, name: "Cy" },
      ]);
      expect(cy.id).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      for (const other of [ada, bob]) {
        expect(await other.next()).toEqual({ type: "joined", id: cy.id, name: "Cy", count: 3 });
      }
    });

    it("broadcasts say to everyone, sender included, with a timestamp", async () => {
      const { members } = await setup(["Ada", "Bob"]);
      const [ada, bob] = members;
      const before = Date.now();
      ada.send({ type: "say", text: "hello 👋" });
      for (const member of [ada, bob]) {
        const frame = await member.next();
        expect(frame).toMatchObject({ type: "message", id: ada.id, name: "Ada", text: "hello 👋" });
        if (frame.type === "message") expect(frame.ts).toBeGreaterThanOrEqual(before - 1000);
      }
    });

    it("delivers a whisper to its recipient only", async () => {
      const { members } = await setup(["Ada", "Bob", "Cy"]);
      const [ada, bob, cy] = members;
      ada.send({ type: "whisper", to: bob.id, text: "psst" });
      expect(await bob.next()).toMatchObject({
        type: "whisper",
        id: ada.id,
        name: "Ada",
        text: "psst",
      });
      // Cy and Ada get nothing: the next thing each sees is its own pong.
      for (const member of [cy, ada]) {
        member.send({ type: "ping" });
        expect(await member.next()).toEqual({ type: "pong" });
      }
    });

    it("answers a whisper to an unknown id or to oneself with unknown_recipient", async () => {
      const { members } = await setup(["Ada"]);
      const [ada] = members;
      for (const to of ["nobody-here", ada.id]) {
        ada.send({ type: "whisper", to, text: "x" });
        expect(await ada.next()).toMatchObject({ type: "error", code: "unknown_recipient" });
      }
    });

    it("renames with hello, tells everyone, and keeps the name", async () => {
      const { room, members } = await setup(["Ada", "Bob"]);
      const [ada, bob] = members;
      ada.send({ type: "hello", name: "  Grace " });
      for (const member of [ada, bob]) {
        expect(await member.next()).toEqual({ type: "renamed", id: ada.id, name: "Grace" });
      }
      await evict(room);
      await expectRoster(bob, [
        { id: ada.id, name: "Grace" },
        { id: bob.id, name: "Bob" },
      ]);
    });

    it("answers who with the roster and ping with pong", async () => {
      const { members } = await setup(["Ada", "Bob"]);
      const [ada, bob] = members;
      await expectRoster(ada, [
        { id: ada.id, name: "Ada" },
        { id: bob.id, name: "Bob" },
      ]);
      ada.send({ type: "ping" });
      expect(await ada.next()).toEqual({ type: "pong" });
    });

    it("tells the others when a member closes, and the roster shrinks", async () => {
      const { members } = await setup(["Ada", "Bob"]);
      const [ada, bob] = members;
      bob.client.close(1000, "bye");
      expect((await bob.client.closed()).reason).toBe("Durable Object is closing WebSocket");
      expect(await ada.next()).toEqual({ type: "left", id: bob.id, name: "Bob", count: 1 });
      await expectRoster(ada, [{ id: ada.id, name: "Ada" }]);
    });

    it("answers bad frames with an error and keeps the socket", async () => {
      const { members } = await setup(["Ada"]);
      const [ada] = members;
      const table: Array<[string, string]> = [
        ["not json", "bad_json"],
        ["[1]", "bad_json"],
        ['{"type":"shout"}', "unknown_type"],
        ['{"type":"say"}', "invalid_field"],
        ['{"type":"hello","name":"a\\u0007"}', "invalid_field"],
      ];
      for (const [text, code] of table) {
        ada.client.send(text);
        expect(await ada.next(), text).toMatchObject({ type: "error", code });
      }
      ada.client.send(new Uint8Array([1, 2]).buffer);
      expect(await ada.next()).toMatchObject({ type: "error", code: "unsupported_data" });
      ada.send({ type: "ping" });
      expect(await ada.next()).toEqual({ type: "pong" });
    });
  });
}
