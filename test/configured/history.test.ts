// A room's history with small limits: HISTORY_LIMIT 3 and HISTORY_ON_JOIN 2
// in this project (test/configured/vars.ts). The room keeps its latest 3
// messages, however many are said, at a bounded cost per message; a newcomer
// sees the latest 2; a resume gets exactly what it missed while that is
// kept, and the latest otherwise.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { SqlHistory } from "../../js/history";
import { freshRoom, joinAt, type Member, stats } from "../worker/room";
import { claims, mint } from "./token";

async function joinAs(room: string, name: string, query = ""): Promise<Member> {
  return joinAt(`/rooms/${room}/websocket?token=${await mint(claims(name, room))}${query}`);
}

/** `member` says `texts` (at most the burst of 5); returns the messages it got back. */
async function say(member: Member, texts: string[]) {
  const heard = [];
  for (const text of texts) {
    member.send({ type: "say", text });
    const frame = await member.next();
    expect(frame).toMatchObject({ type: "message", text });
    heard.push(frame);
  }
  return heard;
}

describe("history with HISTORY_LIMIT 3 and HISTORY_ON_JOIN 2", () => {
  it("keeps the latest 3 in storage however many were said, two rows written per message once full", async () => {
    const room = freshRoom();
    const ada = await joinAs(room, "Ada");
    const said = await say(ada, ["1", "2", "3", "4", "5"]);
    expect(said.map((m) => (m.type === "message" ? m.seq : 0))).toEqual([1, 2, 3, 4, 5]);
    const stub = env.WEBSOCKET_HIBERNATION_SERVER.getByName(room);
    const { seqs, counted } = await runInDurableObject(stub, (instance, state) => ({
      seqs: state.storage.sql
        .exec("SELECT seq FROM history ORDER BY seq")
        .toArray()
        .map((row) => row.seq),
      counted: (instance as unknown as { history: SqlHistory }).history.rowsWritten,
    }));
    expect(seqs).toEqual([3, 4, 5]);
    // The epoch, five messages, and one forgotten with each of the last two.
    expect(counted).toBe(1 + 5 + 2);
    const token = await mint(claims("Ada", room));
    expect((await stats(room, `?token=${token}`)).history_rows_written).toBe(counted);
  });

  it("shows a newcomer the latest 2, and resumes exactly while what was missed is kept", async () => {
    const room = freshRoom();
    const ada = await joinAs(room, "Ada");
    const said = await say(ada, ["1", "2", "3", "4", "5"]);
    const epoch = ada.welcome.epoch;
    const bob = await joinAs(room, "Bob");
    expect(bob.history).toEqual({ type: "history", recovered: false, messages: said.slice(3) });
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Bob" });
    bob.client.close(1000);
    expect(await ada.next()).toMatchObject({ type: "left", name: "Bob" });

    // Missed 3, 4, 5: all kept.
    const within = await joinAs(room, "Cy", `&since=2&epoch=${epoch}`);
    expect(within.history).toEqual({ type: "history", recovered: true, messages: said.slice(2) });
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Cy" });
    within.client.close(1000);
    expect(await ada.next()).toMatchObject({ type: "left", name: "Cy" });
    // Missed 2 too, which is forgotten: the gap is told, with the latest 2.
    const beyond = await joinAs(room, "Dee", `&since=1&epoch=${epoch}`);
    expect(beyond.history).toEqual({
      type: "history",
      recovered: false,
      messages: said.slice(3),
    });
  });
});
