// A room's history in the object's SQLite, with the defaults (HISTORY_LIMIT
// 100, HISTORY_ON_JOIN 50): numbered messages, the epoch, a newcomer's
// history, a resume after a dropped socket, and a sequence that survives an
// eviction and a panic. Small limits are in test/configured/history.test.ts,
// HISTORY_LIMIT=0 in test/history-off/.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { SqlHistory } from "../../js/history";
import { evict, freshRoom, join, joinAll, joinAt, type Member, stats } from "./room";

type Message = Extract<import("../../pkg/core.js").ServerFrame, { type: "message" }>;

/** `member` says each of `texts`; returns the messages as `hearers` all got them. */
async function say(member: Member, texts: string[], hearers: Member[] = [member]) {
  const heard: Message[] = [];
  for (const text of texts) {
    member.send({ type: "say", text });
    for (const hearer of hearers) {
      const frame = await hearer.next();
      expect(frame).toMatchObject({ type: "message", text });
      if (hearer === hearers[0]) heard.push(frame as Message);
    }
  }
  return heard;
}

/** Joins `room` asking to resume after `since` under `epoch`. */
function resume(room: string, name: string, since: number, epoch: string): Promise<Member> {
  return joinAt(`/rooms/${room}/websocket?name=${name}&since=${since}&epoch=${epoch}`);
}

/** The object's history store (js/history.ts) and its rows, read inside the object. */
function inside<T>(room: string, read: (history: SqlHistory, sql: SqlStorage) => T): Promise<T> {
  const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
  return runInDurableObject(stub, (instance, state) =>
    read((instance as unknown as { history: SqlHistory }).history, state.storage.sql),
  );
}

describe("room history", () => {
  it("numbers messages from 1, names the history in every welcome, and shows a newcomer what was said", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    expect(ada.welcome).toMatchObject({ seq: 0, epoch: expect.stringMatching(/^[\w-]{1,32}$/) });
    expect(ada.history).toEqual({ type: "history", recovered: false, messages: [] });
    const said = await say(ada, ["one", "two"]);
    expect(said.map((m) => m.seq)).toEqual([1, 2]);
    expect(said[0]).toEqual({
      type: "message",
      id: ada.id,
      name: "Ada",
      text: "one",
      ts: expect.any(Number),
      seq: 1,
    });

    const bob = await join(room, "Bob");
    expect(bob.welcome).toMatchObject({ seq: 2, epoch: ada.welcome.epoch });
    expect(bob.history).toEqual({ type: "history", recovered: false, messages: said });
    // Whispers are never stored.
    ada.send({ type: "whisper", to: bob.id, text: "psst" });
    expect(await bob.next()).toMatchObject({ type: "whisper", text: "psst" });
    const cy = await join(room, "Cy");
    expect(cy.history?.messages.map((m) => m.text)).toEqual(["one", "two"]);
  });

  it("resumes a dropped socket with exactly the messages said while it was gone", async () => {
    const room = freshRoom();
    const [ada, bob] = await joinAll(room, ["Ada", "Bob"]);
    const before = await say(ada, ["before"], [ada, bob]);
    bob.client.close(4000, "network gone");
    expect(await ada.next()).toMatchObject({ type: "left", id: bob.id });
    const missed = await say(ada, ["m1", "m2", "m3"]);

    const back = await resume(room, "Bob", before[0].seq ?? -1, bob.welcome.epoch ?? "");
    expect(back.welcome.seq).toBe(4);
    expect(back.history).toEqual({ type: "history", recovered: true, messages: missed });
    // Nothing missed: an empty history, still recovered.
    const again = await resume(room, "Bob2", 4, bob.welcome.epoch ?? "");
    expect(again.history).toEqual({ type: "history", recovered: true, messages: [] });
  });

  it("continues the sequence across evictDurableObject, with the history and its epoch intact", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    const first = await say(ada, ["a", "b", "c"]);
    await evict(room);
    const [after] = await say(ada, ["d"]);
    expect(after.seq).toBe(4);
    await evict(room);
    const bob = await join(room, "Bob");
    expect(bob.welcome).toMatchObject({ seq: 4, epoch: ada.welcome.epoch });
    expect(bob.history?.messages).toEqual([...first, after]);
    const resumed = await resume(room, "Cy", 2, ada.welcome.epoch ?? "");
    expect(resumed.history?.messages.map((m) => m.seq)).toEqual([3, 4]);
    expect(resumed.history?.recovered).toBe(true);
  });

  it("continues the sequence from storage after a panic rebuilt the object's state", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    await say(ada, ["one", "two"]);
    ada.client.send("__test_panic__");
    const failed = await ada.next();
    if (failed.type === "error" && failed.code === "bad_json") {
      throw new Error("pkg/ was built without the test hooks: run `npm run build -- --test-hooks`");
    }
    expect(failed).toMatchObject({ type: "error", code: "internal" });
    const [three] = await say(ada, ["three"]);
    expect(three.seq).toBe(3);
  });

  it("writes a row per message, reads nothing on a wake until a message needs it, and states the rows the runtime counts", async () => {
    const room = freshRoom();
    const [ada] = await joinAll(room, ["Ada"]);
    await say(ada, ["a", "b", "c"]);
    // The epoch, then one row per message (far below HISTORY_LIMIT: nothing forgotten).
    const counted = await inside(room, (history) => history.rowsWritten);
    expect(counted).toBe(1 + 3);
    expect((await stats(room)).history_rows_written).toBe(counted);
    expect(
      await inside(room, (_, sql) => sql.exec("SELECT count(*) AS n FROM history").one().n),
    ).toBe(3);

    await evict(room);
    ada.send({ type: "ping" });
    expect(await ada.next()).toEqual({ type: "pong" });
    // The woken instance has run no history statement: not even its schema.
    expect(await inside(room, (history) => (history as unknown as { ready: boolean }).ready)).toBe(
      false,
    );
    const [d] = await say(ada, ["d"]);
    expect(d.seq).toBe(4);
    expect(await inside(room, (history) => history.rowsWritten)).toBe(1);
    expect((await stats(room)).history_rows_written).toBe(1);
  });
});
